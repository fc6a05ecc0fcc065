// Package localdev holds no code of its own: its sub-packages exist only for
// local runs and tests, apart from the production code that Lambda runs.
//
//   - localstack: the local stack (make up, make down, the demo)
//   - emulator: starting and stopping moto, local-kms, Azurite, the Lambda RIE
//   - testenv: the test environment (emulators per test binary, test helpers),
//     and testenv/esm, what Lambda's SQS event source mapping does
//   - faultproxy: a fault-injecting proxy in front of the emulators
//   - reliability: the fault suite, driving the production wiring through it
//   - synth: realistic synthetic events (auditctl events generate, the demo)
//   - localidp: a local identity provider for the HTTP API: its JWKS on
//     127.0.0.1 and the bearer tokens it mints, valid and forged
//
// Production packages (functions/, infra/, internal/ outside this folder) may
// import these only from their _test.go files; the one exception is auditctl's
// local commands (demo, up, down, events generate).
package localdev
