package explain

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/explainer-sidecar/explainer/sampler"
)

// Limits of the masked (text and image) KernelSHAP requests.
const (
	// MaxKernelSHAPTextBytes caps the bytes of the texts one KernelSHAPText
	// explanation renders and sends: about (coalitions + 2) × the text's
	// length.
	MaxKernelSHAPTextBytes = 256 << 20
)

// KernelSHAPTextRequest is one KernelSHAP explanation of a text. The players
// are the text's features as LIMEText makes them; a feature is absent when
// its tokens are dropped or replaced by MaskString (the fill is the one
// background, so there is no averaging).
type KernelSHAPTextRequest struct {
	// Text is the document to explain. Required.
	Text string
	// SplitExpression and Positional tokenize the text as in
	// LIMETextRequest.
	SplitExpression string
	Positional      bool
	// MaskString replaces each absent token; empty drops absent tokens in
	// bag-of-words mode and writes sampler.DefaultMaskString in positional
	// mode, as LIMEText does.
	MaskString string
	// Link is the space the attributions add up in (default identity).
	Link Link
	// Sampling sets the coalitions: NumSamples of them are scored. Zero
	// means shap's default, 2M + 2048 for M players; any value is capped
	// at 2^M − 2, where every coalition is enumerated and the values are
	// exact. 0 to MaxNumSamples. Seed seeds the coalition sampler (unused
	// when every coalition is enumerated).
	Sampling
	// Targets chooses the classes (default the text's top class).
	Targets
}

// KernelSHAPText explains m's prediction for req.Text with KernelSHAP over
// the text's features (distinct words in bag-of-words mode, token positions
// in positional mode; at most MaxKernelSHAPPlayers). Coalition z's value is
//
//	v(z) = link(f(text with the features outside z removed)),
//
// removal as in LIMEText (dropped, or replaced by MaskString), so
// BaseValue = v(0) is the score of the text with every feature removed and
// ModelValue = v(1) that of the text itself. The coalitions, their weights
// and the constrained regression are KernelSHAP's (see KernelSHAP): when
// the budget covers every proper coalition the attributions are the exact
// Shapley values of v, and they always add up to ModelValue − BaseValue.
// StdErr is KernelSHAP's sandwich standard error of each attribution.
//
// The model is called once, on the text, the fully masked text and one
// text per coalition, in that order. The result's Method is
// "kernelshap_text", with one attribution per feature in feature order
// (Index j is TextFeatures.Features[j], Description its word).
func KernelSHAPText(ctx context.Context, m TextModel, req KernelSHAPTextRequest) (*Result, *TextFeatures, error) {
	if err := req.validate(); err != nil {
		return nil, nil, err
	}
	dom, err := textDomain(req.Text, req.SplitExpression, req.Positional)
	switch {
	case err != nil:
		return nil, nil, err
	case len(dom.Features) > MaxKernelSHAPPlayers:
		return nil, nil, invalid("text", "has %d features, more than the maximum of %d players", len(dom.Features), MaxKernelSHAPPlayers)
	}
	d := len(dom.Features)
	mask := req.MaskString
	if mask == "" && req.Positional {
		mask = sampler.DefaultMaskString
	}
	budget := shapBudget(d, req.NumSamples)
	perText := len(req.Text) + len(dom.Tokens)*len(mask)
	if (budget + 2) > MaxKernelSHAPTextBytes/max(1, perText) {
		return nil, nil, invalid("num_samples", "%d coalitions of a %d-byte text exceed the maximum of %d bytes; lower num_samples",
			budget, perText, MaxKernelSHAPTextBytes)
	}
	coal, err := shapCoalitions(d, budget, req.Seed)
	if err != nil {
		return nil, nil, err
	}
	keeps := make([][]float64, 2+budget)
	buf := make([]float64, len(keeps)*d)
	for i := range keeps {
		keeps[i] = buf[i*d : (i+1)*d : (i+1)*d]
	}
	for j := range keeps[0] {
		keeps[0][j] = 1
	}
	if coal != nil {
		for k, row := range coal.Masks {
			for j, in := range row {
				if in {
					keeps[2+k][j] = 1
				}
			}
		}
	}
	texts := dom.RenderAll(keeps, mask)
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	scores, err := m.PredictText(ctx, texts)
	if err != nil {
		return nil, nil, err
	}
	names := make([]string, d)
	for j, f := range dom.Features {
		names[j] = f.Word
	}
	res, err := maskedShapResult(ctx.Err, "kernelshap_text", scores, len(texts), coal, nil, names, req.Link, req.Targets, req.Seed)
	if err != nil {
		return nil, nil, err
	}
	return res, textFeatures(dom), nil
}

func (req *KernelSHAPTextRequest) validate() error {
	switch {
	case req.Text == "":
		return invalid("text", "must not be empty")
	case len(req.SplitExpression) > MaxSplitExpressionLen:
		return invalid("split_expression", "is longer than %d bytes", MaxSplitExpressionLen)
	case req.Link != LinkIdentity && req.Link != LinkLogit:
		return invalid("link", "unknown link %d", int(req.Link))
	}
	if err := req.Sampling.Validate(shapMinSamples); err != nil {
		return err
	}
	return req.Targets.Validate(0)
}

// shapBudget returns the number of coalitions KernelSHAP scores for
// players players and a requested numSamples (0: shap's default 2M+2048),
// capped at 2^M − 2; 0 when there are fewer than 2 players.
func shapBudget(players, numSamples int) int {
	if players < 2 {
		return 0
	}
	budget := numSamples
	if budget == 0 {
		budget = 2*players + 2048
	}
	if players < 31 {
		budget = min(budget, 1<<players-2)
	}
	return budget
}

// shapCoalitions draws the coalitions as KernelSHAP does (nil when
// budget is 0).
func shapCoalitions(players, budget int, seed uint64) (*sampler.Coalitions, error) {
	if budget == 0 {
		return nil, nil
	}
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	coal, err := sampler.SampleCoalitions(players, budget, rng)
	if err != nil {
		return nil, fmt.Errorf("explain: kernelshap sampling: %w", err)
	}
	return coal, nil
}

// maskedShapResult solves the game whose values are the model's scores of
// rows (row 0: all players present, row 1: none, row 2+k: coalition k of
// coal), one score row per coalition (no background). varying maps the
// game's players to the attributions' indices (nil: the identity); the
// other attributions are 0. names describe the attributions. It calls stop
// (the caller's ctx.Err) between labels and long products, and returns its
// error.
func maskedShapResult(stop func() error, method string, scores [][]float64, rows int, coal *sampler.Coalitions, varying []int,
	names []string, link Link, targets Targets, seed uint64) (*Result, error) {
	if err := checkShapScores(scores, rows); err != nil {
		return nil, err
	}
	labels, err := targets.pick(scores[0])
	if err != nil {
		return nil, err
	}
	players := len(names)
	if varying != nil {
		players = len(varying)
	}
	var solver *shapleySolver
	var y []float64
	if coal != nil {
		if solver, err = newShapleySolver(coal.Masks, coal.Weights, stop); err != nil {
			return nil, err
		}
		solver.complete = coal.Complete()
		y = make([]float64, len(coal.Masks))
	}
	res := &Result{
		Method:         method,
		InstanceScores: append([]float64(nil), scores[0]...),
		NumSamples:     rows,
		Seed:           seed,
		Labels:         make([]LabelResult, 0, len(labels)),
	}
	phi := make([]float64, players)
	se := make([]float64, players)
	for _, label := range labels {
		if err := stopped(stop); err != nil {
			return nil, err
		}
		fx := scores[0][label]
		full := link.apply(fx)
		base := link.apply(scores[1][label])
		if math.IsNaN(base) || math.IsInf(base, 0) || math.IsNaN(full) || math.IsInf(full, 0) {
			return nil, shapLinkErr(link, label)
		}
		switch players {
		case 0:
		case 1:
			phi[0] = full - base
		default:
			for k := range y {
				v := link.apply(scores[2+k][label])
				if math.IsNaN(v) || math.IsInf(v, 0) {
					return nil, shapLinkErr(link, label)
				}
				y[k] = v - base
			}
			solver.solve(phi, y, full-base)
			if se, err = solver.stdErrs(se, phi, stop); err != nil {
				return nil, err
			}
		}
		lr := LabelResult{
			Label:        label,
			Prediction:   fx,
			BaseValue:    base,
			ModelValue:   full,
			Attributions: make([]Attribution, len(names)),
		}
		for i, name := range names {
			lr.Attributions[i] = Attribution{Index: i, Description: name}
		}
		for v := range phi {
			i := v
			if varying != nil {
				i = varying[v]
			}
			lr.Attributions[i].Weight = phi[v]
			lr.Attributions[i].StdErr = se[v]
		}
		res.Labels = append(res.Labels, lr)
	}
	if err := res.nonFinite(); err != nil {
		return nil, err
	}
	return res, nil
}

// KernelSHAPImageRequest is one KernelSHAP explanation of an image over a
// segmentation; the fields mean what LIMEImageRequest's do.
type KernelSHAPImageRequest struct {
	// Image is the image to explain; the model gets it, and each masked
	// copy, as one row of H·W·C values in HWC order.
	Image sampler.Image
	// Segments is the label map (H·W labels in [0, NumSegments)), from
	// sampler.GridSegments or sampler.SLIC. Required.
	Segments    []int
	NumSegments int
	// Fill supplies the values of absent segments (same shape as Image):
	// sampler.ConstantFill, MeanFill or BlurFill. Zero means each
	// segment's own mean colour (sampler.SegmentMeanFill), as LIMEImage.
	Fill sampler.Image
	// Link is the space the attributions add up in (default identity).
	Link Link
	// Sampling sets the coalitions as in KernelSHAPTextRequest (default
	// 2M + 2048, capped at 2^M − 2; see also MaxKernelSHAPValues); Seed
	// seeds the coalition sampler.
	Sampling
	// Targets chooses the classes (default the image's top class).
	Targets
}

// KernelSHAPImage explains m's prediction for req.Image with KernelSHAP
// over the segments of req.Segments. Coalition z's value is
//
//	v(z) = link(f(image with the segments outside z taken from Fill)),
//
// so BaseValue is the score of the fill and ModelValue that of the image.
// A segment whose pixels all equal the fill's (or that has no pixels)
// cannot change v: it gets 0 and is left out of the game, as KernelSHAP
// does with features that never vary; at most MaxKernelSHAPPlayers
// segments may vary. Coalitions, weights and regression are KernelSHAP's:
// exact Shapley values when every coalition fits the budget, and the
// attributions add up to ModelValue − BaseValue. StdErr is KernelSHAP's
// sandwich standard error of each attribution.
//
// The model is called once, on the image, the fill and one image per
// coalition ((2 + coalitions)·H·W·C values, at most MaxKernelSHAPValues).
// The result's Method is "kernelshap_image", with one attribution per
// segment: Index is the segment label.
func KernelSHAPImage(ctx context.Context, m Model, req KernelSHAPImageRequest) (*Result, error) {
	if err := req.validate(); err != nil {
		return nil, err
	}
	p := req.NumSegments
	fill := req.Fill
	if fill.Pix == nil {
		var err error
		if fill, err = sampler.SegmentMeanFill(req.Image, req.Segments, p); err != nil {
			return nil, &RequestError{Field: "segments", Reason: err.Error()}
		}
	}
	// The varying segments: those with a pixel value the fill changes.
	differs := make([]bool, p)
	c := req.Image.C
	for px, s := range req.Segments {
		if differs[s] {
			continue
		}
		for k := px * c; k < (px+1)*c; k++ {
			if req.Image.Pix[k] != fill.Pix[k] {
				differs[s] = true
				break
			}
		}
	}
	var varying []int
	for s, d := range differs {
		if d {
			varying = append(varying, s)
		}
	}
	players := len(varying)
	if players > MaxKernelSHAPPlayers {
		return nil, invalid("num_segments", "%d segments vary, more than the maximum of %d players", players, MaxKernelSHAPPlayers)
	}
	budget := shapBudget(players, req.NumSamples)
	size := len(req.Image.Pix)
	if budget+2 > MaxKernelSHAPValues/size {
		return nil, invalid("num_samples", "%d coalitions of a %d-value image exceed the maximum of %d values; lower num_samples",
			budget, size, MaxKernelSHAPValues)
	}
	coal, err := shapCoalitions(players, budget, req.Seed)
	if err != nil {
		return nil, err
	}
	buf := make([]float64, (2+budget)*size)
	rows := make([][]float64, 2+budget)
	for i := range rows {
		rows[i] = buf[i*size : (i+1)*size : (i+1)*size]
	}
	copy(rows[0], req.Image.Pix)
	copy(rows[1], fill.Pix)
	keep := make([]bool, p)
	for k := 0; coal != nil && k < len(coal.Masks); k++ {
		for s := range keep {
			keep[s] = !differs[s] // the same either way
		}
		for v, in := range coal.Masks[k] {
			keep[varying[v]] = in
		}
		if _, err := sampler.MaskImage(rows[2+k], req.Image, req.Segments, keep, fill); err != nil {
			return nil, fmt.Errorf("explain: kernelshap image: %w", err)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	scores, err := m.Predict(ctx, rows)
	if err != nil {
		return nil, err
	}
	names := make([]string, p)
	for s := range names {
		names[s] = fmt.Sprintf("segment %d", s)
	}
	return maskedShapResult(ctx.Err, "kernelshap_image", scores, len(rows), coal, varying, names, req.Link, req.Targets, req.Seed)
}

func (req *KernelSHAPImageRequest) validate() error {
	img := req.Image
	if err := img.Validate(); err != nil {
		return &RequestError{Field: "image", Reason: err.Error()}
	}
	switch {
	case req.NumSegments < 1 || req.NumSegments > maxImageSegmentsPerModel:
		return invalid("num_segments", "%d is outside [1, %d]", req.NumSegments, maxImageSegmentsPerModel)
	case len(req.Segments) != img.H*img.W:
		return invalid("segments", "has %d labels for %d pixels", len(req.Segments), img.H*img.W)
	case req.Link != LinkIdentity && req.Link != LinkLogit:
		return invalid("link", "unknown link %d", int(req.Link))
	}
	for _, s := range req.Segments {
		if s < 0 || s >= req.NumSegments {
			return invalid("segments", "label outside [0, %d)", req.NumSegments)
		}
	}
	if req.Fill.Pix != nil {
		f := req.Fill
		if f.H != img.H || f.W != img.W || f.C != img.C {
			return invalid("fill", "shape %dx%dx%d differs from the image's %dx%dx%d", f.H, f.W, f.C, img.H, img.W, img.C)
		}
		if err := f.Validate(); err != nil {
			return &RequestError{Field: "fill", Reason: err.Error()}
		}
	}
	if err := req.Sampling.Validate(shapMinSamples); err != nil {
		return err
	}
	return req.Targets.Validate(0)
}
