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
/// Data-owner consent: a model registered as consent-required records an inference only
/// through submitInferenceWithConsent, with an EIP-712 `Consent` signed by the owner of the
/// input (bound by the proof's input commitment instance), sent by the processor it names.
/// A consented record's id is keccak256(abi.encode(statement id, data owner)): one record per
/// statement AND owner, so whoever copies a proof from the mempool and signs a consent of his
/// own records under his own id and cannot block the real owner's record.
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

    /// What a data owner signs (EIP-712 typed data, domain: name "zkml InferenceRegistry",
    /// version "1", chainId, this contract): the model that may be run on the input whose
    /// commitment is inputCommitment, the one address that may submit the result, the purpose
    /// and the last second it is valid. A consent is used once: its (owner, nonce) is then spent.
    struct Consent {
        address owner;
        bytes32 modelId;
        uint256 inputCommitment;
        address processor;
        bytes32 purpose; // keccak256 of a short purpose text
        uint64 expiry; // unix seconds: valid while block.timestamp <= expiry
        uint256 nonce; // chosen by the owner; revokeConsent(nonce) withdraws it
    }

    bytes32 public constant CONSENT_TYPEHASH = keccak256(
        "Consent(address owner,bytes32 modelId,uint256 inputCommitment,address processor,"
        "bytes32 purpose,uint64 expiry,uint256 nonce)"
    );
    bytes32 private constant _DOMAIN_TYPEHASH = keccak256(
        "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
    );
    bytes32 private constant _NAME_HASH = keccak256("zkml InferenceRegistry");
    bytes32 private constant _VERSION_HASH = keccak256("1");
    /// secp256k1 order / 2: a signature with a larger s is the malleable twin of a valid one.
    uint256 private constant _HALF_ORDER =
        0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;
    uint8 public constant NONCE_FRESH = 0;
    uint8 public constant NONCE_USED = 1;
    uint8 public constant NONCE_REVOKED = 2;

    mapping(bytes32 => Model) private _models;
    mapping(bytes32 => Record) private _records;
    mapping(bytes32 => bool) private _consentRequired;
    mapping(address => mapping(uint256 => uint8)) private _nonceState;
    mapping(bytes32 => address) private _dataOwners;

    event ModelRegistered(bytes32 indexed modelId, address indexed owner, address verifier,
                          bytes32 vkDigest, string metadataURI);
    event ModelOwnershipTransferred(bytes32 indexed modelId, address indexed previousOwner,
                                    address indexed newOwner);
    event ModelRetired(bytes32 indexed modelId);
    event ConsentRequirementSet(bytes32 indexed modelId);
    event ConsentUsed(bytes32 indexed inferenceId, address indexed dataOwner,
                      address indexed processor, bytes32 modelId, bytes32 consentDigest,
                      bytes32 purpose, uint256 nonce);
    event ConsentRevoked(address indexed dataOwner, uint256 indexed nonce);
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
    error ConsentIsRequired(bytes32 modelId);
    error NoInputCommitment(bytes32 modelId);
    error ConsentForOtherModel(bytes32 consentModelId, bytes32 modelId);
    error CommitmentMismatch(uint256 consented, uint256 proven);
    error NotConsentProcessor(address processor, address caller);
    error ConsentExpired(uint64 expiry, uint256 timestamp);
    error ConsentIsRevoked(address owner, uint256 nonce);
    error ConsentAlreadyUsed(address owner, uint256 nonce);
    error BadSignatureLength(uint256 length);
    error BadSignatureV(uint8 v);
    error MalleableSignature();
    error InvalidSignature();
    error SignerNotOwner(address signer, address owner);

    modifier onlyModelOwner(bytes32 modelId) {
        if (_models[modelId].owner == address(0)) revert UnknownModel(modelId);
        if (_models[modelId].owner != msg.sender) revert NotModelOwner(modelId, msg.sender);
        _;
    }

    /// @notice Register a model: its verifier, instance layout and metadata. Caller = owner.
    function registerModel(address verifier, Layout calldata layout, bytes32 vkDigest,
                           string calldata metadataURI) external returns (bytes32 modelId) {
        modelId = _register(verifier, layout, vkDigest, metadataURI);
    }

    /// @notice Register a model whose inferences are recorded only with the data owner's
    /// consent (submitInferenceWithConsent). Its layout must have an input commitment.
    function registerModelWithConsent(address verifier, Layout calldata layout,
                                      bytes32 vkDigest, string calldata metadataURI)
        external returns (bytes32 modelId)
    {
        modelId = _register(verifier, layout, vkDigest, metadataURI);
        _requireConsent(modelId);
    }

    /// @notice Owner only, one way: from now on the model records inferences only with consent.
    function requireConsent(bytes32 modelId) external onlyModelOwner(modelId) {
        if (!_consentRequired[modelId]) _requireConsent(modelId);
    }

    function _requireConsent(bytes32 modelId) private {
        if (_models[modelId].layout.inputCommitmentIndex == NONE) {
            revert NoInputCommitment(modelId);
        }
        _consentRequired[modelId] = true;
        emit ConsentRequirementSet(modelId);
    }

    function _register(address verifier, Layout calldata layout, bytes32 vkDigest,
                       string calldata metadataURI) private returns (bytes32 modelId) {
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
        Model storage m = _liveModel(modelId);
        if (_consentRequired[modelId]) revert ConsentIsRequired(modelId);
        Layout memory l = m.layout;
        inferenceId = _checkStatement(modelId, l, instances);
        _checkNotRecorded(inferenceId);
        _verify(m.verifier, proof, instances);
        _record(modelId, inferenceId, l, instances);
    }

    /// @notice Like submitInference, with the data owner's signed consent: the proof's input
    /// commitment must be the consented one, the caller the consented processor, the consent
    /// unexpired, unrevoked and unused. Records the data owner with the inference.
    function submitInferenceWithConsent(bytes32 modelId, bytes calldata proof,
                                        uint256[] calldata instances, Consent calldata consent,
                                        bytes calldata signature)
        external returns (bytes32 inferenceId)
    {
        Model storage m = _liveModel(modelId);
        if (consent.modelId != modelId) revert ConsentForOtherModel(consent.modelId, modelId);
        Layout memory l = m.layout;
        if (l.inputCommitmentIndex == NONE) revert NoInputCommitment(modelId);
        inferenceId = _checkStatement(modelId, l, instances);
        if (instances[l.inputCommitmentIndex] != consent.inputCommitment) {
            revert CommitmentMismatch(consent.inputCommitment, instances[l.inputCommitmentIndex]);
        }
        bytes32 digest = _checkConsent(consent, signature);
        inferenceId = consentedInferenceId(inferenceId, consent.owner);
        _checkNotRecorded(inferenceId);
        _nonceState[consent.owner][consent.nonce] = NONCE_USED; // spent before the external call
        _dataOwners[inferenceId] = consent.owner;
        _verify(m.verifier, proof, instances);
        _record(modelId, inferenceId, l, instances);
        emit ConsentUsed(inferenceId, consent.owner, msg.sender, modelId, digest, consent.purpose,
                         consent.nonce);
    }

    /// @notice The id of the record of statement ``statementId`` (keccak256(abi.encode(modelId,
    /// instances))) made with ``dataOwner``'s consent.
    function consentedInferenceId(bytes32 statementId, address dataOwner)
        public pure returns (bytes32)
    {
        return keccak256(abi.encode(statementId, dataOwner));
    }

    /// @notice The data owner (caller) withdraws the consent(s) with this nonce.
    function revokeConsent(uint256 nonce) external {
        uint8 state = _nonceState[msg.sender][nonce];
        if (state == NONCE_USED) revert ConsentAlreadyUsed(msg.sender, nonce);
        if (state == NONCE_REVOKED) revert ConsentIsRevoked(msg.sender, nonce);
        _nonceState[msg.sender][nonce] = NONCE_REVOKED;
        emit ConsentRevoked(msg.sender, nonce);
    }

    /// @notice The EIP-712 domain separator (this chain, this contract).
    function domainSeparator() public view returns (bytes32) {
        return keccak256(abi.encode(_DOMAIN_TYPEHASH, _NAME_HASH, _VERSION_HASH, block.chainid,
                                    address(this)));
    }

    /// @notice The EIP-712 digest the data owner signs for ``consent``.
    function consentDigest(Consent calldata consent) public view returns (bytes32) {
        bytes32 structHash = keccak256(abi.encode(
            CONSENT_TYPEHASH, consent.owner, consent.modelId, consent.inputCommitment,
            consent.processor, consent.purpose, consent.expiry, consent.nonce
        ));
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator(), structHash));
    }

    /// @return NONCE_FRESH, NONCE_USED or NONCE_REVOKED.
    function consentStatus(address owner, uint256 nonce) external view returns (uint8) {
        return _nonceState[owner][nonce];
    }

    function consentRequired(bytes32 modelId) external view returns (bool) {
        return _consentRequired[modelId];
    }

    /// @return the data owner whose consent recorded the inference (0 if none was given).
    function dataOwnerOf(bytes32 inferenceId) external view returns (address) {
        return _dataOwners[inferenceId];
    }

    function _liveModel(bytes32 modelId) private view returns (Model storage m) {
        m = _models[modelId];
        if (m.owner == address(0)) revert UnknownModel(modelId);
        if (m.retired) revert ModelIsRetired(modelId);
    }

    /// The instance checks; returns the statement id.
    function _checkStatement(bytes32 modelId, Layout memory l, uint256[] calldata instances)
        private view returns (bytes32 inferenceId)
    {
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
    }

    function _checkNotRecorded(bytes32 inferenceId) private view {
        if (_records[inferenceId].submitter != address(0)) revert AlreadyRecorded(inferenceId);
    }

    /// Processor, expiry, signature (canonical, by the owner, for this chain and contract),
    /// then revocation and use. Returns the EIP-712 digest.
    function _checkConsent(Consent calldata c, bytes calldata signature)
        private view returns (bytes32 digest)
    {
        if (msg.sender != c.processor) revert NotConsentProcessor(c.processor, msg.sender);
        if (block.timestamp > c.expiry) revert ConsentExpired(c.expiry, block.timestamp);
        digest = consentDigest(c);
        address signer = _recover(digest, signature);
        if (signer != c.owner) revert SignerNotOwner(signer, c.owner);
        uint8 state = _nonceState[c.owner][c.nonce];
        if (state == NONCE_REVOKED) revert ConsentIsRevoked(c.owner, c.nonce);
        if (state == NONCE_USED) revert ConsentAlreadyUsed(c.owner, c.nonce);
    }

    /// ecrecover of a 65-byte (r, s, v) signature, refusing the malleable twin (high s) and
    /// any v but 27 or 28; never returns address(0).
    function _recover(bytes32 digest, bytes calldata sig) private pure returns (address signer) {
        if (sig.length != 65) revert BadSignatureLength(sig.length);
        bytes32 r = bytes32(sig[0:32]);
        bytes32 s = bytes32(sig[32:64]);
        uint8 v = uint8(sig[64]);
        if (uint256(s) > _HALF_ORDER) revert MalleableSignature();
        if (v != 27 && v != 28) revert BadSignatureV(v);
        signer = ecrecover(digest, v, r, s);
        if (signer == address(0)) revert InvalidSignature();
    }

    /// The verifier gets the instances as this contract decoded them (re-encoded
    /// canonically), so both always judge the same statement.
    function _verify(address verifier, bytes calldata proof, uint256[] calldata instances)
        private
    {
        try IHalo2Verifier(verifier).verifyProof(proof, instances) returns (bool ok) {
            if (!ok) revert InvalidProof();
        } catch {
            revert InvalidProof();
        }
    }

    function _record(bytes32 modelId, bytes32 inferenceId, Layout memory l,
                     uint256[] calldata instances) private {
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
