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
/// @notice First an evaluation set is committed (commitSet: its sha256 Merkle root,
/// zkml/claims/merkle.py, its sample count and the vk digest of the model it is for); then, in
/// a LATER block, a registered model's owner records a claim about that commitment: the root
/// over the per-sample proofs, the sha256 of the claim file, and the metrics recomputed from
/// the proven outputs, as integers in parts per million (0.94 -> 940000). The contract checks
/// who may claim and that the data was fixed before the claim; the proofs and metrics
/// themselves are checked off-chain from the claim file.
/// @dev A commitment is keyed by (setRoot, committer): anyone may commit any root, but only
/// under their own address, so someone copying a root from the mempool (first, or with another
/// sample count) makes a record of their own and never takes or spoils the real committer's.
/// A claim names the commitment it relies on (setRoot, setCommitter).
/// Claim id = keccak256(abi.encode(modelId, setRoot, setCommitter, proofsRoot)). Metrics are
/// stored as keccak256(abi.encode(metricNames, metricValues)) and emitted in full in
/// ClaimRecorded.
contract ClaimRegistry {
    /// Two slots: (samples, blockNumber, timestamp) and modelDigest. The committer is in the
    /// key; samples is never 0 for a committed set.
    struct SetRecord {
        uint32 samples;
        uint64 blockNumber;
        uint64 timestamp;
        bytes32 modelDigest; // vk digest (sha256 of the verifying key) it was committed for
    }

    /// Seven slots: five hashes, then (claimant, samples, blockNumber) and (setCommitter,
    /// timestamp).
    struct ClaimRecord {
        bytes32 modelId;
        bytes32 setRoot;
        bytes32 proofsRoot;
        bytes32 claimDigest;
        bytes32 metricsHash; // keccak256(abi.encode(metricNames, metricValues))
        address claimant;
        uint32 samples;
        uint64 blockNumber;
        address setCommitter;
        uint64 timestamp;
    }

    IInferenceRegistry public immutable inferenceRegistry;

    mapping(bytes32 => SetRecord) private _sets; // setKeyOf(setRoot, committer) => record
    mapping(bytes32 => ClaimRecord) private _claims;

    event SetCommitted(bytes32 indexed setRoot, address indexed committer,
                       bytes32 indexed modelDigest, uint32 samples, uint256 timestamp);
    event ClaimRecorded(bytes32 indexed claimId, bytes32 indexed modelId,
                        bytes32 indexed setRoot, address setCommitter, address claimant,
                        bytes32 proofsRoot, bytes32 claimDigest, uint32 samples,
                        string[] metricNames, int64[] metricValues, uint256 timestamp);

    error RegistryNotAContract(address registry);
    error SetAlreadyCommitted(bytes32 setRoot, address committer);
    error ZeroSamples();
    error UnknownModel(bytes32 modelId);
    error ModelIsRetired(bytes32 modelId);
    error NotModelOwner(bytes32 modelId, address caller);
    error SetNotCommitted(bytes32 setRoot, address committer);
    error SetCommittedThisBlock(bytes32 setRoot, uint256 blockNumber);
    error SampleCountMismatch(uint32 committed, uint32 claimed);
    error SetForOtherModel(bytes32 setModelDigest, bytes32 vkDigest);
    error MetricsLengthMismatch(uint256 names, uint256 values);
    error ClaimAlreadyRecorded(bytes32 claimId);

    constructor(address registry) {
        if (registry.code.length == 0) revert RegistryNotAContract(registry);
        inferenceRegistry = IInferenceRegistry(registry);
    }

    /// @notice Commit an evaluation set under the sender's address (once per root and
    /// sender) before any claim about it; modelDigest is the vk digest of the model it is for.
    function commitSet(bytes32 setRoot, uint32 samples, bytes32 modelDigest) external {
        if (samples == 0) revert ZeroSamples();
        bytes32 key = setKeyOf(setRoot, msg.sender);
        if (_sets[key].samples != 0) revert SetAlreadyCommitted(setRoot, msg.sender);
        _sets[key] = SetRecord(samples, uint64(block.number), uint64(block.timestamp),
                               modelDigest);
        emit SetCommitted(setRoot, msg.sender, modelDigest, samples, block.timestamp);
    }

    /// @notice The model's owner records a claim on the set setCommitter committed in an
    /// earlier block, with the same sample count, for this model's vk digest.
    function recordClaim(bytes32 modelId, bytes32 setRoot, address setCommitter,
                         bytes32 proofsRoot, bytes32 claimDigest, uint32 samples,
                         string[] calldata metricNames, int64[] calldata metricValues)
        external returns (bytes32 claimId)
    {
        _checkSet(setRoot, setCommitter, samples, _checkModel(modelId));
        if (metricNames.length != metricValues.length) {
            revert MetricsLengthMismatch(metricNames.length, metricValues.length);
        }
        claimId = claimIdOf(modelId, setRoot, setCommitter, proofsRoot);
        if (_claims[claimId].claimant != address(0)) revert ClaimAlreadyRecorded(claimId);
        _claims[claimId] = ClaimRecord(
            modelId, setRoot, proofsRoot, claimDigest,
            keccak256(abi.encode(metricNames, metricValues)), msg.sender, samples,
            uint64(block.number), setCommitter, uint64(block.timestamp)
        );
        emit ClaimRecorded(claimId, modelId, setRoot, setCommitter, msg.sender, proofsRoot,
                           claimDigest, samples, metricNames, metricValues, block.timestamp);
    }

    /// @notice The id of the claim of a model on a set (as committed by setCommitter) with
    /// these proofs.
    function claimIdOf(bytes32 modelId, bytes32 setRoot, address setCommitter,
                       bytes32 proofsRoot) public pure returns (bytes32)
    {
        return keccak256(abi.encode(modelId, setRoot, setCommitter, proofsRoot));
    }

    /// @notice The key a set commitment is stored under: one per (root, committer).
    function setKeyOf(bytes32 setRoot, address committer) public pure returns (bytes32) {
        return keccak256(abi.encode(setRoot, committer));
    }

    /// @notice The hash a claim's metrics are stored as.
    function metricsHashOf(string[] calldata metricNames, int64[] calldata metricValues)
        external pure returns (bytes32)
    {
        return keccak256(abi.encode(metricNames, metricValues));
    }

    /// @return the record of the set committer committed; samples is 0 if they never did.
    function getSet(bytes32 setRoot, address committer) external view
        returns (SetRecord memory)
    {
        return _sets[setKeyOf(setRoot, committer)];
    }

    /// @return the claim's record; claimant is address(0) if it was never recorded.
    function getClaim(bytes32 claimId) external view returns (ClaimRecord memory) {
        return _claims[claimId];
    }

    /// @return vkDigest the model's, once it is known to exist, be live and be the sender's.
    function _checkModel(bytes32 modelId) private view returns (bytes32 vkDigest) {
        IInferenceRegistry.Model memory m;
        try inferenceRegistry.getModel(modelId) returns (IInferenceRegistry.Model memory got) {
            m = got;
        } catch {
            revert UnknownModel(modelId);
        }
        if (m.owner == address(0)) revert UnknownModel(modelId);
        if (m.retired) revert ModelIsRetired(modelId);
        if (m.owner != msg.sender) revert NotModelOwner(modelId, msg.sender);
        return m.vkDigest;
    }

    function _checkSet(bytes32 setRoot, address committer, uint32 samples, bytes32 vkDigest)
        private view
    {
        SetRecord memory s = _sets[setKeyOf(setRoot, committer)];
        if (s.samples == 0) revert SetNotCommitted(setRoot, committer);
        if (s.blockNumber >= block.number) revert SetCommittedThisBlock(setRoot, s.blockNumber);
        if (s.samples != samples) revert SampleCountMismatch(s.samples, samples);
        if (s.modelDigest != vkDigest) revert SetForOtherModel(s.modelDigest, vkDigest);
    }
}
