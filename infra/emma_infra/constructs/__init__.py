"""One construct per feature; `emma_infra.stack.EmmaStack` composes them."""
