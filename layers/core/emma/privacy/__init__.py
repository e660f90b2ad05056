"""Privacy: a customer's data export, erasure (with a hashed suppression that outlives it), whole-shop
erasure, and the audit trail of both. Pure domain: the stores are ports (emma.privacy.ports)."""
