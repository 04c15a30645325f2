// Package httpapi serves the explainer over HTTP: the whole gRPC API as
// JSON, and KServe's v1 explainer endpoints.
//
//   - Every RPC of the gRPC server answers POST /<service>/<method> in the
//     Connect protocol (unary: a protojson body; streaming: Connect's
//     enveloped messages), and in gRPC and gRPC-Web, through vanguard's
//     transcoder (connectrpc.com/vanguard) in front of the *grpc.Server: each
//     call runs the server's own interceptors (request ids, metrics, logs,
//     recovery, bearer tokens) and its limits. Errors carry the gRPC status's
//     message with Connect's HTTP code (400 INVALID_ARGUMENT and
//     FAILED_PRECONDITION, 429 RESOURCE_EXHAUSTED, 503 UNAVAILABLE, ...).
//     The bidirectional ExplainStream needs HTTP/2 (TLS or h2c); over HTTP/1.1
//     it is refused with 505, and ExplainJob streams one job instead.
//   - ExplainJob also answers a plain JSON body with newline-delimited JSON
//     (one protojson ExplainJobResponse per line), for curl.
//   - KServe's v1 explainer protocol: POST /v1/models/{name}:explain with
//     {"instances": [...], "parameters": {...}} answers {"explanations":
//     [...]}: the instances are one batch job (ExplainRequest.batch,
//     WithBatches) when they can share one, else each is a job of its own,
//     through the transcoder either way; GET /v1/models/{name} is
//     readiness, GET / liveness.
//
// Concurrency: a Handler is safe for concurrent requests. The jobs of one
// :explain's instances run at once, at most WithMaxInstancesInFlight of
// them; a request's goroutines end before its handler returns, and a
// client that goes away cancels its calls.
package httpapi
