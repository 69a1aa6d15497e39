// SPDX-License-Identifier: MIT
pragma solidity 0.8.20;

/// @notice The verifier ezkl generates for one segment circuit (Halo2, KZG on BN254).
interface ISegmentVerifier {
    function verifyProof(bytes calldata proof, uint256[] calldata instances) external returns (bool);
}

/// @title SplitVerifier: one model proven as K segment proofs, checked as one statement.
/// @notice Same interface as one ezkl verifier, so the InferenceRegistry can register it as a
/// model's verifier unchanged. `proof` is abi.encode(bytes[] segmentProofs); `instances` are the
/// segments' public instances concatenated in segment order. A boundary between segment b and
/// b + 1 carries one or more tensors; for each, the commitment segment b's proof carries for it
/// as an output must equal the one segment b + 1's proof carries for it as an input (a 64-byte
/// G1 point at an offset fixed per segment, read from the settings). Valid only if every such
/// link holds and every segment proof verifies under its own verifier.
contract SplitVerifier {
    address[] public verifiers;
    uint256[] public numInstances;
    /// link j joins segment linkBoundary[j] to segment linkBoundary[j] + 1 (ascending)
    uint256[] public linkBoundary;
    /// byte offset, in the earlier segment's proof, of link j's output commitment
    uint256[] public outputOffsets;
    /// byte offset, in the later segment's proof, of link j's input commitment
    uint256[] public inputOffsets;
    /// keccak256 of the constructor's arguments. The registry names a model by
    /// keccak256(verifier codehash, registrant); an immutable is part of the runtime code, so
    /// each configuration has its own codehash and one account can register several split
    /// models (without it every SplitVerifier had the same code, hence the same model id).
    bytes32 public immutable configDigest;

    error BadConfig();
    error SegmentCount(uint256 expected, uint256 got);
    error InstanceCount(uint256 expected, uint256 got);
    error LinkBroken(uint256 boundary);
    error SegmentRejected(uint256 segment);

    constructor(address[] memory verifiers_, uint256[] memory numInstances_,
                uint256[] memory linkBoundary_, uint256[] memory outputOffsets_,
                uint256[] memory inputOffsets_) {
        uint256 k = verifiers_.length;
        uint256 n = linkBoundary_.length;
        if (k == 0 || numInstances_.length != k || outputOffsets_.length != n
            || inputOffsets_.length != n) revert BadConfig();
        for (uint256 i = 0; i < k; ++i) {
            if (verifiers_[i].code.length == 0) revert BadConfig();
        }
        // every boundary 0 .. k - 2 has at least one link, in ascending order: a boundary
        // without one would let two unrelated proofs pass as one inference
        uint256 next = 0;
        for (uint256 j = 0; j < n; ++j) {
            uint256 b = linkBoundary_[j];
            if (b + 1 >= k || b + 1 < next || b > next) revert BadConfig();
            if (b == next) next = b + 1;
        }
        if (next + 1 != k) revert BadConfig();
        configDigest = keccak256(abi.encode(verifiers_, numInstances_, linkBoundary_,
                                            outputOffsets_, inputOffsets_));
        verifiers = verifiers_;
        numInstances = numInstances_;
        linkBoundary = linkBoundary_;
        outputOffsets = outputOffsets_;
        inputOffsets = inputOffsets_;
    }

    function segments() external view returns (uint256) {
        return verifiers.length;
    }

    function verifyProof(bytes calldata proof, uint256[] calldata instances)
        external
        returns (bool)
    {
        bytes[] memory proofs = abi.decode(proof, (bytes[]));
        uint256 k = verifiers.length;
        if (proofs.length != k) revert SegmentCount(k, proofs.length);
        uint256 total = 0;
        for (uint256 i = 0; i < k; ++i) total += numInstances[i];
        if (instances.length != total) revert InstanceCount(total, instances.length);
        // Links first: they are cheap, and a mixed-up bundle fails before any pairing.
        uint256 n = linkBoundary.length;
        for (uint256 j = 0; j < n; ++j) {
            uint256 b = linkBoundary[j];
            if (!_samePoint(proofs[b], outputOffsets[j], proofs[b + 1], inputOffsets[j])) {
                revert LinkBroken(b);
            }
        }
        uint256 at = 0;
        for (uint256 i = 0; i < k; ++i) {
            uint256 m = numInstances[i];
            uint256[] memory slice = new uint256[](m);
            for (uint256 j = 0; j < m; ++j) slice[j] = instances[at + j];
            at += m;
            bool ok = false;
            try ISegmentVerifier(verifiers[i]).verifyProof(proofs[i], slice) returns (bool r) {
                ok = r;
            } catch {
                ok = false;
            }
            if (!ok) revert SegmentRejected(i);
        }
        return true;
    }

    /// The 64 bytes at `offA` of `a` equal the 64 bytes at `offB` of `b` (both in range).
    function _samePoint(bytes memory a, uint256 offA, bytes memory b, uint256 offB)
        private
        pure
        returns (bool)
    {
        if (a.length < offA + 64 || b.length < offB + 64) return false;
        bytes32 a0;
        bytes32 a1;
        bytes32 b0;
        bytes32 b1;
        assembly {
            let pa := add(add(a, 32), offA)
            let pb := add(add(b, 32), offB)
            a0 := mload(pa)
            a1 := mload(add(pa, 32))
            b0 := mload(pb)
            b1 := mload(add(pb, 32))
        }
        return a0 == b0 && a1 == b1;
    }
}
