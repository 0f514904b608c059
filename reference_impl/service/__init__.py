"""The service under test: an x402 agent-payment gateway with every hardening component in the
request path (contract: docs/service.md). Entry points: `create_app` in `app`, the CLI in `cli`."""
