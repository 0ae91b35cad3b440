//! Integration tests on the tiny fixture model (`fixtures/sam/tiny_256`).
