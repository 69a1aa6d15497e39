"""Stage 4, the chain: Solidity verifier, EVM connections, the inference registry.

Modules: ``contract`` (verifier source + solc), ``evm`` (connect, deploy, verify on-chain),
``devnode`` (a local anvil), ``registry`` (the InferenceRegistry's write side), ``audit`` (its
read side), ``consent`` (EIP-712 data-owner consent), ``claims`` (committed evaluation sets and
model claims in the ClaimRegistry), ``gas`` (verifyProof gas meter for the tuner), ``split`` and
``collab`` (the SplitVerifier and CollabVerifier of split and collaborative models).
"""

#: The environment variable a sender's private key is read from (never from the command line).
DEFAULT_KEY_ENV = "ZKML_PRIVATE_KEY"
