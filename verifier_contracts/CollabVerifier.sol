// SPDX-License-Identifier: MIT
pragma solidity 0.8.20;

/// @notice The verifier ezkl generates for one segment circuit (Halo2, KZG on BN254).
interface ICollabSegmentVerifier {
    function verifyProof(bytes calldata proof, uint256[] calldata instances) external returns (bool);
}

/// @title CollabVerifier: a collaborative model (one segment per party, each with its own
/// private weights) checked as one statement.
/// @notice Same interface as one ezkl verifier (and as the SplitVerifier), so the
/// InferenceRegistry registers it as a model's verifier unchanged. `proof` is
/// abi.encode(bytes[] segmentProofs); `instances` are the segments' public instances
/// concatenated in segment order.
///
/// A segment's weights are a private witness committed in its proof (ezkl's `polycommit`
/// params): 64-byte G1 points at offsets fixed per segment. Its verifying key does NOT depend
/// on the weights, so the verifier alone would accept a proof made with any weights of that
/// shape. This contract therefore also checks, per segment, that the points at the weights'
/// offsets are exactly the ones its contributor registered at deployment (their keccak256 is
/// stored), and, per boundary, that segment b's output commitment is segment b + 1's input
/// commitment (as the SplitVerifier). Valid only if every weight commitment, every link and
/// every segment proof holds.
///
/// `contributors()` names who supplied each segment (an address declared at deployment) and
/// the digest of its weight commitment: every inference this contract accepts was computed
/// with those weights. Nothing here can change after deployment.
///
/// The registry names a model by keccak256(verifier codehash, registrant). `configDigest`, an
/// immutable and so part of the runtime code, hashes the whole configuration: two
/// CollabVerifiers with other segments, weights, links or contributors have other code hashes,
/// hence other model ids (the same registrant can register both), and a model id names its
/// weights and contributors.
contract CollabVerifier {
    /// keccak256 of the constructor's arguments, abi-encoded
    bytes32 public immutable configDigest;
    address[] public verifiers;
    uint256[] public numInstances;
    /// link j joins segment linkBoundary[j] to segment linkBoundary[j] + 1 (ascending)
    uint256[] public linkBoundary;
    /// byte offset, in the earlier segment's proof, of link j's output commitment
    uint256[] public outputOffsets;
    /// byte offset, in the later segment's proof, of link j's input commitment
    uint256[] public inputOffsets;
    /// segment i's registered weight commitment: its G1 points (64 bytes each) concatenated
    bytes[] public weightPoints;
    /// the byte offsets of the weight points in a proof: segment 0's first, in point order
    uint256[] public weightOffsets;
    /// keccak256(weightPoints[i])
    bytes32[] private _weightDigests;
    /// who contributed segment i
    address[] private _owners;

    error BadConfig();
    error SegmentCount(uint256 expected, uint256 got);
    error InstanceCount(uint256 expected, uint256 got);
    error WeightsMismatch(uint256 segment);
    error LinkBroken(uint256 boundary);
    error SegmentRejected(uint256 segment);

    constructor(address[] memory verifiers_, uint256[] memory numInstances_,
                uint256[] memory linkBoundary_, uint256[] memory outputOffsets_,
                uint256[] memory inputOffsets_, address[] memory owners_,
                bytes[] memory weightPoints_, uint256[] memory weightOffsets_) {
        uint256 k = verifiers_.length;
        uint256 n = linkBoundary_.length;
        if (k == 0 || numInstances_.length != k || outputOffsets_.length != n
            || inputOffsets_.length != n || owners_.length != k || weightPoints_.length != k) {
            revert BadConfig();
        }
        uint256 points = 0;
        for (uint256 i = 0; i < k; ++i) {
            if (verifiers_[i].code.length == 0 || owners_[i] == address(0)
                || weightPoints_[i].length % 64 != 0) revert BadConfig();
            points += weightPoints_[i].length / 64;
            _weightDigests.push(keccak256(weightPoints_[i]));
        }
        if (weightOffsets_.length != points) revert BadConfig();
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
                                            outputOffsets_, inputOffsets_, owners_,
                                            weightPoints_, weightOffsets_));
        verifiers = verifiers_;
        numInstances = numInstances_;
        linkBoundary = linkBoundary_;
        outputOffsets = outputOffsets_;
        inputOffsets = inputOffsets_;
        weightPoints = weightPoints_;
        weightOffsets = weightOffsets_;
        _owners = owners_;
    }

    function segments() external view returns (uint256) {
        return verifiers.length;
    }

    /// @return owners who contributed each segment, in segment order
    /// @return weightCommitmentDigests keccak256 of each segment's weight points, concatenated
    function contributors()
        external
        view
        returns (address[] memory owners, bytes32[] memory weightCommitmentDigests)
    {
        return (_owners, _weightDigests);
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
        // Weights and links first: they are cheap, and a forged bundle fails before any
        // pairing.
        uint256 at = 0;
        for (uint256 i = 0; i < k; ++i) {
            uint256 m = weightPoints[i].length / 64;
            if (keccak256(_gather(proofs[i], at, m)) != _weightDigests[i]) {
                revert WeightsMismatch(i);
            }
            at += m;
        }
        uint256 n = linkBoundary.length;
        for (uint256 j = 0; j < n; ++j) {
            uint256 b = linkBoundary[j];
            if (!_samePoint(proofs[b], outputOffsets[j], proofs[b + 1], inputOffsets[j])) {
                revert LinkBroken(b);
            }
        }
        at = 0;
        for (uint256 i = 0; i < k; ++i) {
            uint256 m = numInstances[i];
            uint256[] memory slice = new uint256[](m);
            for (uint256 j = 0; j < m; ++j) slice[j] = instances[at + j];
            at += m;
            bool ok = false;
            try ICollabSegmentVerifier(verifiers[i]).verifyProof(proofs[i], slice)
                returns (bool r) {
                ok = r;
            } catch {
                ok = false;
            }
            if (!ok) revert SegmentRejected(i);
        }
        return true;
    }

    /// The `m` 64-byte points of `p` at weightOffsets[from .. from + m), concatenated; a point
    /// past the end of `p` makes the result empty (which matches no registered commitment
    /// but an empty one, and then m = 0).
    function _gather(bytes memory p, uint256 from, uint256 m)
        private
        view
        returns (bytes memory got)
    {
        got = new bytes(64 * m);
        for (uint256 t = 0; t < m; ++t) {
            uint256 off = weightOffsets[from + t];
            if (p.length < off + 64) return new bytes(0);
            assembly {
                let src := add(add(p, 32), off)
                let dst := add(add(got, 32), mul(t, 64))
                mstore(dst, mload(src))
                mstore(add(dst, 32), mload(add(src, 32)))
            }
        }
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
