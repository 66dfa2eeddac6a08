"""Operations: readiness, Prometheus metrics and structured logs."""
