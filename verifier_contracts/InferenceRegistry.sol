// SPDX-License-Identifier: MIT
pragma solidity 0.8.20;

/// @notice The verifier ezkl generates for one model (Halo2, KZG on BN254).
interface IHalo2Verifier {
    function verifyProof(bytes calldata proof, uint256[] calldata instances) external returns (bool);
}

/// @title InferenceRegistry: an on-chain audit trail of verified ML inferences.
/// @notice A model owner registers a model by its verifier contract and instance layout. Anyone
/// may then submit a proof; the registry checks it with the model's verifier and records the
/// statement (model + public instances) once, emitting InferenceVerified.
/// @dev Model id = keccak256(abi.encode(extcodehash(verifier), registrant)). The verifier's
/// runtime code embeds the verifying key, so a third party recomputes the id from the published
/// verifying key (compile the verifier with the pinned solc) and the registrant's address.
/// Inference id = keccak256(abi.encode(modelId, instances)): the statement, never the proof
/// bytes (a proof can be re-randomised; the statement cannot be recorded twice).
contract InferenceRegistry {
    /// BN254 scalar field modulus: every public instance must be below it.
    uint256 public constant FIELD_MODULUS =
        21888242871839275222246405745257275088548364400416034343698204186575808495617;
    uint16 public constant NONE = type(uint16).max;

    /// Which public instances mean what. Outputs are instances[outputOffset, +numOutputs).
    struct Layout {
        uint16 numInstances;
        uint16 outputOffset;
        uint16 numOutputs;
        uint16 inputCommitmentIndex; // NONE if the preset commits to no input
        uint16 weightsHashIndex; // NONE if the preset publishes no weights hash
        uint8 outputScale; // outputs are fixed point: value = signed(instance) / 2**outputScale
        uint256 weightsHash; // the expected weights hash, if weightsHashIndex != NONE
    }

    struct Model {
        address owner;
        address verifier;
        bool retired;
        uint64 registeredAt;
        bytes32 vkDigest; // sha256 of the verifying key file (informational, for clients)
        Layout layout;
        string metadataURI;
    }

    /// A compact record: the model in one slot, submitter/time/block packed in another.
    struct Record {
        bytes32 modelId;
        address submitter;
        uint64 timestamp;
        uint32 blockNumber;
    }

    mapping(bytes32 => Model) private _models;
    mapping(bytes32 => Record) private _records;

    event ModelRegistered(bytes32 indexed modelId, address indexed owner, address verifier,
                          bytes32 vkDigest, string metadataURI);
    event ModelOwnershipTransferred(bytes32 indexed modelId, address indexed previousOwner,
                                    address indexed newOwner);
    event ModelRetired(bytes32 indexed modelId);
    event InferenceVerified(bytes32 indexed modelId, bytes32 indexed inferenceId,
                            uint256 inputCommitment, uint256[] outputs,
                            address indexed submitter, uint256 timestamp);

    error UnknownModel(bytes32 modelId);
    error ModelAlreadyRegistered(bytes32 modelId);
    error ModelIsRetired(bytes32 modelId);
    error NotModelOwner(bytes32 modelId, address caller);
    error NotAContract(address verifier);
    error BadLayout();
    error LayoutMismatch(uint256 expectedInstances, uint256 gotInstances);
    error InstanceOutOfField(uint256 index);
    error WeightsHashMismatch(uint256 expected, uint256 got);
    error InvalidProof();
    error AlreadyRecorded(bytes32 inferenceId);
    error ZeroAddress();

    modifier onlyModelOwner(bytes32 modelId) {
        if (_models[modelId].owner == address(0)) revert UnknownModel(modelId);
        if (_models[modelId].owner != msg.sender) revert NotModelOwner(modelId, msg.sender);
        _;
    }

    /// @notice Register a model: its verifier, instance layout and metadata. Caller = owner.
    function registerModel(address verifier, Layout calldata layout, bytes32 vkDigest,
                           string calldata metadataURI) external returns (bytes32 modelId) {
        if (verifier.code.length == 0) revert NotAContract(verifier);
        _checkLayout(layout);
        modelId = modelIdOf(verifier.codehash, msg.sender);
        if (_models[modelId].owner != address(0)) revert ModelAlreadyRegistered(modelId);
        Model storage m = _models[modelId];
        m.owner = msg.sender;
        m.verifier = verifier;
        m.registeredAt = uint64(block.timestamp);
        m.vkDigest = vkDigest;
        m.layout = layout;
        m.metadataURI = metadataURI;
        emit ModelRegistered(modelId, msg.sender, verifier, vkDigest, metadataURI);
    }

    /// @notice The model id a (verifier code hash, registrant) pair gets.
    function modelIdOf(bytes32 verifierCodehash, address registrant) public pure returns (bytes32) {
        return keccak256(abi.encode(verifierCodehash, registrant));
    }

    /// @notice Verify a proof with the model's verifier and record the statement once.
    function submitInference(bytes32 modelId, bytes calldata proof, uint256[] calldata instances)
        external returns (bytes32 inferenceId)
    {
        Model storage m = _models[modelId];
        if (m.owner == address(0)) revert UnknownModel(modelId);
        if (m.retired) revert ModelIsRetired(modelId);
        Layout memory l = m.layout;
        if (instances.length != l.numInstances) {
            revert LayoutMismatch(l.numInstances, instances.length);
        }
        for (uint256 i = 0; i < instances.length; ++i) {
            if (instances[i] >= FIELD_MODULUS) revert InstanceOutOfField(i);
        }
        if (l.weightsHashIndex != NONE && instances[l.weightsHashIndex] != l.weightsHash) {
            revert WeightsHashMismatch(l.weightsHash, instances[l.weightsHashIndex]);
        }
        inferenceId = keccak256(abi.encode(modelId, instances));
        if (_records[inferenceId].submitter != address(0)) revert AlreadyRecorded(inferenceId);
        // The verifier gets the instances as this contract decoded them (re-encoded
        // canonically), so both always judge the same statement.
        try IHalo2Verifier(m.verifier).verifyProof(proof, instances) returns (bool ok) {
            if (!ok) revert InvalidProof();
        } catch {
            revert InvalidProof();
        }
        _records[inferenceId] = Record(modelId, msg.sender, uint64(block.timestamp),
                                       uint32(block.number));
        emit InferenceVerified(
            modelId, inferenceId,
            l.inputCommitmentIndex == NONE ? 0 : instances[l.inputCommitmentIndex],
            instances[l.outputOffset:l.outputOffset + l.numOutputs], msg.sender, block.timestamp
        );
    }

    function transferModelOwnership(bytes32 modelId, address newOwner)
        external onlyModelOwner(modelId)
    {
        if (newOwner == address(0)) revert ZeroAddress();
        emit ModelOwnershipTransferred(modelId, _models[modelId].owner, newOwner);
        _models[modelId].owner = newOwner;
    }

    /// @notice Stop new submissions for a model; its records stay readable (and marked).
    function retireModel(bytes32 modelId) external onlyModelOwner(modelId) {
        _models[modelId].retired = true;
        emit ModelRetired(modelId);
    }

    function getModel(bytes32 modelId) external view returns (Model memory) {
        if (_models[modelId].owner == address(0)) revert UnknownModel(modelId);
        return _models[modelId];
    }

    /// @return record the stored record; modelRetired whether its model is retired now.
    function getRecord(bytes32 inferenceId)
        external view returns (Record memory record, bool modelRetired)
    {
        record = _records[inferenceId];
        modelRetired = _models[record.modelId].retired;
    }

    function _checkLayout(Layout calldata l) private pure {
        if (l.numInstances == 0 || l.numOutputs == 0) revert BadLayout();
        if (uint256(l.outputOffset) + l.numOutputs > l.numInstances) revert BadLayout();
        if (l.inputCommitmentIndex != NONE && l.inputCommitmentIndex >= l.numInstances) {
            revert BadLayout();
        }
        if (l.weightsHashIndex != NONE && l.weightsHashIndex >= l.numInstances) revert BadLayout();
        if (l.outputScale > 64) revert BadLayout();
    }
}
