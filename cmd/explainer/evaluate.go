package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// checkFlags are the flags of auto sampling and of the checks (-evaluate).
type checkFlags struct {
	auto          bool // -num-samples auto
	tolerance     float64
	stableRanking bool
	budget        uint
	topK          uint
	evaluate      bool
	stabilityRuns uint
	curvesPNG     string
}

// samplesFlag is -num-samples: a count, or "auto".
type samplesFlag struct {
	n    *uint
	auto *bool
}

func (s samplesFlag) String() string {
	if s.auto != nil && *s.auto {
		return "auto"
	}
	if s.n == nil || *s.n == 0 {
		return "0"
	}
	return strconv.FormatUint(uint64(*s.n), 10)
}

func (s samplesFlag) Set(v string) error {
	if v == "auto" {
		*s.auto, *s.n = true, 0
		return nil
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return fmt.Errorf("want a count or auto")
	}
	*s.auto, *s.n = false, uint(n)
	return nil
}

func (c *checkFlags) register(fs *flag.FlagSet) {
	fs.Float64Var(&c.tolerance, "tolerance", 0, "with -num-samples auto: stop when the top-k attributions' standard errors are at most this")
	fs.BoolVar(&c.stableRanking, "stable-ranking", false, "with -num-samples auto: stop when the top-k features and their order are the same in two rounds (the default target when -tolerance is 0)")
	fs.UintVar(&c.budget, "budget", 0, "with -num-samples auto: the most samples a round may have; 0 = 50000")
	fs.UintVar(&c.topK, "top-k", 0, "the k of -tolerance, -stable-ranking and the stability's top-k overlap; 0 = 5")
	fs.BoolVar(&c.evaluate, "evaluate", false, "also check the explanation: stability over -stability-runs seeds (methods with a seed) and deletion/insertion curves; prints a report")
	fs.UintVar(&c.stabilityRuns, "stability-runs", 5, "with -evaluate: seeds compared (2..16); 0 = no stability check")
	fs.StringVar(&c.curvesPNG, "curves-png", "", "with -evaluate: write the first label's deletion and insertion curves to this PNG file")
}

// apply adds auto sampling and the checks to req. Deterministic methods
// get no stability runs: every seed would give the same answer.
func (c *checkFlags) apply(req *explainerv1.ExplainRequest) error {
	if c.auto {
		a := &explainerv1.AutoSampling{Tolerance: c.tolerance, StableRanking: c.stableRanking || c.tolerance == 0, MaxSamples: uint32(c.budget), TopK: uint32(c.topK)}
		req.AutoSampling = a
	} else if c.tolerance != 0 || c.stableRanking || c.budget != 0 {
		return fmt.Errorf("-tolerance, -stable-ranking and -budget need -num-samples auto")
	}
	if c.curvesPNG != "" && !c.evaluate {
		return fmt.Errorf("-curves-png needs -evaluate")
	}
	if !c.evaluate {
		return nil
	}
	e := &explainerv1.Evaluation{FidelityCurves: true, StabilityRuns: uint32(c.stabilityRuns), TopK: uint32(c.topK)}
	if !seeded(req) {
		e.StabilityRuns = 0
	}
	req.Evaluation = e
	return nil
}

// writeCurvesFile writes the first label's curves of exp to path.
func writeCurvesFile(path string, exp *explainerv1.Explanation) error {
	curves := exp.GetEvaluation().GetCurves()
	if len(curves) == 0 {
		return fmt.Errorf("-curves-png: the result has no curves")
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	title := fmt.Sprintf("%s · %s · label %d", exp.GetModel(), exp.GetMethod(), curves[0].GetLabel())
	if err := writeCurvesPNG(f, curves[0], title); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// stopReasonName is the readable name of r.
func stopReasonName(r explainerv1.StopReason) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(r.String(), "STOP_REASON_")), "_", " ")
}

// writeAutoLine says how auto sampling ended.
func writeAutoLine(w io.Writer, exp *explainerv1.Explanation) {
	if exp.GetStopReason() == explainerv1.StopReason_STOP_REASON_UNSPECIFIED {
		return
	}
	rounds := "rounds"
	if exp.GetRounds() == 1 {
		rounds = "round"
	}
	fmt.Fprintf(w, "auto sampling: %s after %d %s (%d samples); largest standard error among the top attributions %.4g\n",
		stopReasonName(exp.GetStopReason()), exp.GetRounds(), rounds, exp.GetNumSamples(), exp.GetPrecision())
}

// writeEvaluation prints the checks' report.
func writeEvaluation(w io.Writer, exp *explainerv1.Explanation) {
	rep := exp.GetEvaluation()
	if rep == nil {
		return
	}
	fmt.Fprintf(w, "\nevaluation (%d extra samples in %d model calls)\n", rep.GetNumSamples(), rep.GetModelCalls())
	if st := rep.GetStability(); st != nil {
		fmt.Fprintf(w, "  stability over %d seeds: rank correlation %.3f (min %.3f) · top-%d overlap %.3f\n",
			st.GetRuns(), st.GetMeanRankCorrelation(), st.GetMinRankCorrelation(), st.GetTopK(), st.GetMeanTopKOverlap())
	}
	for _, c := range rep.GetCurves() {
		verdict := "faithful: removing the top features first hurts the score more than a random order"
		if !(c.GetDeletionArea() < c.GetRandomDeletionArea() && c.GetInsertionArea() > c.GetRandomInsertionArea()) {
			verdict = "NOT better than a random order on both curves"
		}
		fmt.Fprintf(w, "  label %d: deletion area %.4f (random %.4f) · insertion area %.4f (random %.4f) · %s\n",
			c.GetLabel(), c.GetDeletionArea(), c.GetRandomDeletionArea(), c.GetInsertionArea(), c.GetRandomInsertionArea(), verdict)
	}
}

// seeded tells whether req's method depends on a seed: its options have
// one. The others are deterministic, and stability runs do not apply.
func seeded(req *explainerv1.ExplainRequest) bool {
	r := req.ProtoReflect()
	return hasSeed(r.WhichOneof(r.Descriptor().Oneofs().ByName("method")))
}

// hasSeed tells whether the method of the oneof case fd takes a seed (its
// options message has one); false for nil.
func hasSeed(fd protoreflect.FieldDescriptor) bool {
	return fd != nil && fd.Message() != nil && fd.Message().Fields().ByName("seed") != nil
}
