// SPDX-License-Identifier: MIT
pragma solidity 0.8.20;

/// @notice The part of the InferenceRegistry a claim needs: who owns a model, and is it live.
interface IInferenceRegistry {
    struct Layout {
        uint16 numInstances;
        uint16 outputOffset;
        uint16 numOutputs;
        uint16 inputCommitmentIndex;
        uint16 weightsHashIndex;
        uint8 outputScale;
        uint256 weightsHash;
    }

    struct Model {
        address owner;
        address verifier;
        bool retired;
        uint64 registeredAt;
        bytes32 vkDigest;
        Layout layout;
        string metadataURI;
    }

    function getModel(bytes32 modelId) external view returns (Model memory);
}

/// @title ClaimRegistry: proven model claims (accuracy, fairness) on committed evaluation sets.
/// @notice First an evaluation set is committed (commitSet: its sha256 Merkle root and sample
/// count, zkml/claims/merkle.py); then, in a LATER block, a registered model's owner records a
/// claim about that set: the root over the per-sample proofs, the sha256 of the claim file,
/// and the metrics recomputed from the proven outputs, as integers in parts per million
/// (0.94 -> 940000). The contract checks who may claim and that the data was fixed before the
/// claim; the proofs and metrics themselves are checked off-chain from the claim file.
/// @dev Claim id = keccak256(abi.encode(modelId, setRoot, proofsRoot)). Metrics are stored as
/// keccak256(abi.encode(metricNames, metricValues)) and emitted in full in ClaimRecorded.
contract ClaimRegistry {
    /// Packed in two slots: (committer, samples, blockNumber) and timestamp.
    struct SetRecord {
        address committer;
        uint32 samples;
        uint64 blockNumber;
        uint64 timestamp;
    }

    struct ClaimRecord {
        bytes32 modelId;
        bytes32 setRoot;
        bytes32 proofsRoot;
        bytes32 claimDigest;
        bytes32 metricsHash; // keccak256(abi.encode(metricNames, metricValues))
        address claimant;
        uint32 samples;
        uint64 blockNumber;
        uint64 timestamp;
    }

    IInferenceRegistry public immutable inferenceRegistry;

    mapping(bytes32 => SetRecord) private _sets;
    mapping(bytes32 => ClaimRecord) private _claims;

    event SetCommitted(bytes32 indexed setRoot, address indexed committer, uint32 samples,
                       uint256 timestamp);
    event ClaimRecorded(bytes32 indexed claimId, bytes32 indexed modelId,
                        bytes32 indexed setRoot, address claimant, bytes32 proofsRoot,
                        bytes32 claimDigest, uint32 samples, string[] metricNames,
                        int64[] metricValues, uint256 timestamp);

    error RegistryNotAContract(address registry);
    error SetAlreadyCommitted(bytes32 setRoot);
    error ZeroSamples();
    error UnknownModel(bytes32 modelId);
    error ModelIsRetired(bytes32 modelId);
    error NotModelOwner(bytes32 modelId, address caller);
    error SetNotCommitted(bytes32 setRoot);
    error SetCommittedThisBlock(bytes32 setRoot, uint256 blockNumber);
    error SampleCountMismatch(uint32 committed, uint32 claimed);
    error MetricsLengthMismatch(uint256 names, uint256 values);
    error ClaimAlreadyRecorded(bytes32 claimId);

    constructor(address registry) {
        if (registry.code.length == 0) revert RegistryNotAContract(registry);
        inferenceRegistry = IInferenceRegistry(registry);
    }

    /// @notice Commit an evaluation set (once per root) before any claim about it.
    function commitSet(bytes32 setRoot, uint32 samples) external {
        if (samples == 0) revert ZeroSamples();
        if (_sets[setRoot].committer != address(0)) revert SetAlreadyCommitted(setRoot);
        _sets[setRoot] = SetRecord(msg.sender, samples, uint64(block.number),
                                   uint64(block.timestamp));
        emit SetCommitted(setRoot, msg.sender, samples, block.timestamp);
    }

    /// @notice The model's owner records a claim on a set committed in an earlier block.
    function recordClaim(bytes32 modelId, bytes32 setRoot, bytes32 proofsRoot,
                         bytes32 claimDigest, uint32 samples, string[] calldata metricNames,
                         int64[] calldata metricValues) external returns (bytes32 claimId)
    {
        _checkModel(modelId);
        _checkSet(setRoot, samples);
        if (metricNames.length != metricValues.length) {
            revert MetricsLengthMismatch(metricNames.length, metricValues.length);
        }
        claimId = claimIdOf(modelId, setRoot, proofsRoot);
        if (_claims[claimId].claimant != address(0)) revert ClaimAlreadyRecorded(claimId);
        _claims[claimId] = ClaimRecord(
            modelId, setRoot, proofsRoot, claimDigest,
            keccak256(abi.encode(metricNames, metricValues)), msg.sender, samples,
            uint64(block.number), uint64(block.timestamp)
        );
        emit ClaimRecorded(claimId, modelId, setRoot, msg.sender, proofsRoot, claimDigest,
                           samples, metricNames, metricValues, block.timestamp);
    }

    /// @notice The id of the claim of a model on a set with these proofs.
    function claimIdOf(bytes32 modelId, bytes32 setRoot, bytes32 proofsRoot)
        public pure returns (bytes32)
    {
        return keccak256(abi.encode(modelId, setRoot, proofsRoot));
    }

    /// @notice The hash a claim's metrics are stored as.
    function metricsHashOf(string[] calldata metricNames, int64[] calldata metricValues)
        external pure returns (bytes32)
    {
        return keccak256(abi.encode(metricNames, metricValues));
    }

    /// @return the set's record; committer is address(0) if it was never committed.
    function getSet(bytes32 setRoot) external view returns (SetRecord memory) {
        return _sets[setRoot];
    }

    /// @return the claim's record; claimant is address(0) if it was never recorded.
    function getClaim(bytes32 claimId) external view returns (ClaimRecord memory) {
        return _claims[claimId];
    }

    function _checkModel(bytes32 modelId) private view {
        IInferenceRegistry.Model memory m;
        try inferenceRegistry.getModel(modelId) returns (IInferenceRegistry.Model memory got) {
            m = got;
        } catch {
            revert UnknownModel(modelId);
        }
        if (m.owner == address(0)) revert UnknownModel(modelId);
        if (m.retired) revert ModelIsRetired(modelId);
        if (m.owner != msg.sender) revert NotModelOwner(modelId, msg.sender);
    }

    function _checkSet(bytes32 setRoot, uint32 samples) private view {
        SetRecord memory s = _sets[setRoot];
        if (s.committer == address(0)) revert SetNotCommitted(setRoot);
        if (s.blockNumber >= block.number) revert SetCommittedThisBlock(setRoot, s.blockNumber);
        if (s.samples != samples) revert SampleCountMismatch(s.samples, samples);
    }
}
