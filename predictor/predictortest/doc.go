// Package predictortest provides in-process fake model servers for tests,
// like net/http/httptest: a predict.v1 server and a KServe v2 (Triton)
// server, each built around a scoring function, with knobs for delay, batch
// limits and faults, counters of what they saw, and helpers to serve them on
// an in-memory bufconn listener or on 127.0.0.1.
//
// Typical use:
//
//	fake := predictortest.NewKServeServer(predictortest.Logistic(w, b))
//	fake.MaxBatchSize = 8
//	fake.Delay = 5 * time.Millisecond
//	s := predictortest.NewBufconnServer(fake)
//	defer s.Close()
//	client := predictor.NewKServeV2(s.Conn, "model")
//
// Set the knobs (exported fields) before serving and do not change them
// while calls may run; the counters are safe to read at any time. Tests
// wait on them with Model.Await, which wakes at every change, rather than
// polling with sleeps; Model.Sent and Model.Sending count the scoring calls
// on the client's side (through Server.Conn or Server.DialOptions), so
// that "no call after the job ended" is a count, not a wait.
package predictortest
