package server

import (
	"context"
	"fmt"

	"google.golang.org/grpc/status"

	"github.com/explainer-sidecar/explainer/engine"
	"github.com/explainer-sidecar/explainer/predictor"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
	"github.com/explainer-sidecar/explainer/sampler"
)

// batchInstances are a batch's validated instances, of one kind: rows,
// texts or images.
type batchInstances struct {
	n int
	// Rows: the values, the features' names (as given, and resolved to
	// "x0", … when none are) and the categorical features.
	rows       [][]float64
	givenNames []string
	names      []string
	cats       []*explainerv1.CategoricalFeature
	// Texts, and their split expression.
	texts []string
	split string
	// Images, all of one size and layout.
	images []*explainerv1.ImageInstance
}

// loadBatch validates the batch's instances; a tabular batch's streamed
// rows are received from chunks.
func loadBatch(ctx context.Context, b *explainerv1.InstanceBatch, info predictor.ModelInfo, chunks <-chan *explainerv1.DataChunk) (*batchInstances, error) {
	out := &batchInstances{}
	switch k := b.GetKind().(type) {
	case *explainerv1.InstanceBatch_Tabular:
		if err := out.loadRows(ctx, k.Tabular, info, chunks); err != nil {
			return nil, err
		}
	case *explainerv1.InstanceBatch_Text:
		out.texts, out.split, out.n = k.Text.GetTexts(), k.Text.GetSplitExpression(), len(k.Text.GetTexts())
		if out.n == 0 {
			return nil, invalidArgument("batch.text.texts: at least one text is required")
		}
		if out.texts == nil {
			out.texts = []string{}
		}
	case *explainerv1.InstanceBatch_Image:
		if err := out.loadImages(k.Image.GetImages(), info); err != nil {
			return nil, err
		}
	default:
		return nil, invalidArgument("batch: set tabular, text or image")
	}
	if out.n > MaxBatchInstances {
		return nil, invalidArgument("batch: %d instances exceed the limit of %d (MaxBatchInstances); split the batch", out.n, MaxBatchInstances)
	}
	return out, nil
}

func (b *batchInstances) loadRows(ctx context.Context, t *explainerv1.TabularBatch, info predictor.ModelInfo, chunks <-chan *explainerv1.DataChunk) error {
	const field = "batch.tabular.rows"
	ds := t.GetRows()
	names := ds.GetFeatureNames()
	var p int
	switch {
	case !t.GetStreamed():
		n := int(ds.GetNumRows())
		if n < 1 || n > MaxBatchInstances {
			return invalidArgument("%s.num_rows: %d is outside [1, %d] (MaxBatchInstances)", field, n, MaxBatchInstances)
		}
		if len(ds.GetValues())%n != 0 || len(ds.GetValues()) == 0 {
			return invalidArgument("%s.values: %d values do not make %d whole rows", field, len(ds.GetValues()), n)
		}
		p = len(ds.GetValues()) / n
	case chunks == nil:
		return invalidArgument("batch.tabular.streamed: streamed rows need ExplainStream; Explain takes them inline")
	default:
		p = info.NumFeatures
		if p == 0 {
			p = len(names)
		}
		if p == 0 {
			return invalidArgument("%s.feature_names: required with streamed rows when the model server does not report its feature count", field)
		}
	}
	switch {
	case p > MaxFeatures:
		return invalidArgument("%s: %d features exceeds limit %d", field, p, MaxFeatures)
	case info.NumFeatures > 0 && p != info.NumFeatures:
		return invalidArgument("%s: rows have %d features, model expects %d", field, p, info.NumFeatures)
	case len(names) != 0 && len(names) != p:
		return invalidArgument("%s.feature_names: %d names for %d features", field, len(names), p)
	}
	for i, n := range names {
		if len(n) > MaxNameLength {
			return invalidArgument("%s.feature_names[%d]: longer than %d bytes", field, i, MaxNameLength)
		}
	}
	d := &dataset{}
	if !t.GetStreamed() {
		if err := d.add(field, ds.GetValues(), nil, nil, p, false); err != nil {
			return err
		}
	} else if err := receiveRows(ctx, d, chunks, p); err != nil {
		return err
	}
	b.rows, b.n, b.cats, b.givenNames = d.rows, len(d.rows), t.GetCategoricalFeatures(), names
	b.names = names
	if len(names) == 0 {
		b.names = defaultFeatureNames(p)
	}
	return nil
}

// receiveRows adds the rows of chunks to d until the chunk with last set.
func receiveRows(ctx context.Context, d *dataset, chunks <-chan *explainerv1.DataChunk, p int) error {
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case c, ok := <-chunks:
			if !ok {
				return invalidArgument("data: the stream ended before the chunk with last set")
			}
			where := fmt.Sprintf("data chunk %d", i)
			if len(d.rows)+len(c.GetValues())/p > MaxBatchInstances {
				return invalidArgument("%s: the batch exceeds %d rows (MaxBatchInstances)", where, MaxBatchInstances)
			}
			if err := d.add(where, c.GetValues(), nil, nil, p, false); err != nil {
				return err
			}
			if c.GetLast() {
				if len(d.rows) == 0 {
					return invalidArgument("batch.tabular.rows: no rows")
				}
				return nil
			}
		}
	}
}

func (b *batchInstances) loadImages(images []*explainerv1.ImageInstance, info predictor.ModelInfo) error {
	b.images, b.n = images, len(images)
	if b.n == 0 {
		return invalidArgument("batch.image.images: at least one image is required")
	}
	first := images[0]
	for i, im := range images {
		if im.GetHeight() != first.GetHeight() || im.GetWidth() != first.GetWidth() || im.GetChannels() != first.GetChannels() || im.GetLayout() != first.GetLayout() {
			return invalidArgument("batch.image.images[%d]: %d×%d×%d (layout %d), images[0] is %d×%d×%d (layout %d): a batch's images share one size and layout",
				i, im.GetHeight(), im.GetWidth(), im.GetChannels(), im.GetLayout(), first.GetHeight(), first.GetWidth(), first.GetChannels(), first.GetLayout())
		}
		if _, _, err := checkedImage(b.request(i), info); err != nil {
			st := status.Convert(err)
			return status.Errorf(st.Code(), "batch.image.images[%d]: %s", i, st.Message())
		}
	}
	return nil
}

// request is a request whose instance is instance i (for the instance
// parsers that read a request).
func (b *batchInstances) request(i int) *explainerv1.ExplainRequest {
	return &explainerv1.ExplainRequest{Instance: b.instance(i)}
}

// instance is instance i as a single request carries it.
func (b *batchInstances) instance(i int) *explainerv1.Instance {
	switch {
	case b.rows != nil:
		return &explainerv1.Instance{Kind: &explainerv1.Instance_Tabular{Tabular: &explainerv1.TabularInstance{
			Values: b.rows[i], FeatureNames: b.givenNames, CategoricalFeatures: b.cats,
		}}}
	case b.texts != nil:
		return &explainerv1.Instance{Kind: &explainerv1.Instance_Text{Text: &explainerv1.TextInstance{Text: b.texts[i], SplitExpression: b.split}}}
	}
	return &explainerv1.Instance{Kind: &explainerv1.Instance_Image{Image: b.images[i]}}
}

// maxLabelPassValues caps the image values of one call of the label pass
// (128 MiB of float64), so that it never holds every image at once.
const maxLabelPassValues = 16 << 20

// score returns the model's scores of every instance itself, in order: the
// pass that picks a batch's label.
func (b *batchInstances) score(ctx context.Context, m engine.Scorer) ([][]float64, error) {
	switch {
	case b.rows != nil:
		return m.Predict(ctx, b.rows)
	case b.texts != nil:
		return m.PredictText(ctx, b.texts)
	}
	first, layout, err := parseImage(b.request(0))
	if err != nil {
		return nil, err
	}
	per := max(1, maxLabelPassValues/len(first.Pix))
	out := make([][]float64, 0, b.n)
	for lo := 0; lo < b.n; lo += per {
		var rows [][]float64
		var img sampler.Image
		for i := lo; i < min(lo+per, b.n); i++ {
			if img, _, err = parseImage(b.request(i)); err != nil {
				return nil, err
			}
			rows = append(rows, img.Pix)
		}
		scores, err := imageModel(m, img, layout).Predict(ctx, rows)
		if err != nil {
			return nil, err
		}
		out = append(out, scores...)
	}
	return out, nil
}
