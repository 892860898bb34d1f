"""Machine-checked theorems of the paper (SPEC section 3), one module per theorem.

``proofs.registry.theorems()`` lists them; ``icl-verify prove`` runs them.
"""
