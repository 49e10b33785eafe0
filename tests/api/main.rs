//! Integration tests: one binary, one module per area, shared harnesses in `support/`.

mod tls;
