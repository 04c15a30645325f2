package sampler

import (
	"math"
	"math/rand/v2"
)

// normCDF is Φ(x) = P(Z ≤ x) for a standard normal Z. Through Erfc it keeps
// full relative precision in the lower tail, down to x ≈ −37.
func normCDF(x float64) float64 { return 0.5 * math.Erfc(-x/math.Sqrt2) }

// normSF is the survival function Q(x) = 1 − Φ(x) = Φ(−x), precise in the
// upper tail.
func normSF(x float64) float64 { return 0.5 * math.Erfc(x/math.Sqrt2) }

// normQuantile is Φ⁻¹(p) for p in (0, 1), by Wichura's algorithm AS 241
// (PPND16, Applied Statistics 37(3), 1988), accurate to about 1e-16
// relative. It is used instead of math.Erfcinv, which computes
// Erfinv(1−x) and so loses every digit below p ≈ 1e-16. It returns −Inf at
// 0, +Inf at 1 and NaN outside [0, 1].
func normQuantile(p float64) float64 {
	switch {
	case p <= 0 || p >= 1 || math.IsNaN(p):
		if p == 0 {
			return math.Inf(-1)
		}
		if p == 1 {
			return math.Inf(1)
		}
		return math.NaN()
	}
	q := p - 0.5
	if math.Abs(q) <= 0.425 {
		r := 0.180625 - q*q
		return q * (((((((2.5090809287301226727e3*r+3.3430575583588128105e4)*r+
			6.7265770927008700853e4)*r+4.5921953931549871457e4)*r+
			1.3731693765509461125e4)*r+1.9715909503065514427e3)*r+
			1.3314166789178437745e2)*r + 3.3871328727963666080) /
			(((((((5.2264952788528545610e3*r+2.8729085735721942674e4)*r+
				3.9307895800092710610e4)*r+2.1213794301586595867e4)*r+
				5.3941960214247511077e3)*r+6.8718700749205790830e2)*r+
				4.2313330701600911252e1)*r + 1)
	}
	// Tails: the smaller of p and 1−p. For p > 0.5, 1−p is exact (Sterbenz),
	// so only the caller's rounding of p limits the upper tail.
	r := p
	if q > 0 {
		r = 1 - p
	}
	r = math.Sqrt(-math.Log(r))
	var x float64
	if r <= 5 {
		r -= 1.6
		x = (((((((7.74545014278341407640e-4*r+2.27238449892691845833e-2)*r+
			2.41780725177450611770e-1)*r+1.27045825245236838258)*r+
			3.64784832476320460504)*r+5.76949722146069140550)*r+
			4.63033784615654529590)*r + 1.42343711074968357734) /
			(((((((1.05075007164441684324e-9*r+5.47593808499534494600e-4)*r+
				1.51986665636164571966e-2)*r+1.48103976427480074590e-1)*r+
				6.89767334985100004550e-1)*r+1.67638483018380384940)*r+
				2.05319162663775882187)*r + 1)
	} else {
		r -= 5
		x = (((((((2.01033439929228813265e-7*r+2.71155556874348757815e-5)*r+
			1.24266094738807843860e-3)*r+2.65321895265761230930e-2)*r+
			2.96560571828504891230e-1)*r+1.78482653991729133580)*r+
			5.46378491116411436990)*r + 6.65790464350110377720) /
			(((((((2.04426310338993978564e-15*r+1.42151175831644588870e-7)*r+
				1.84631831751005468180e-5)*r+7.86869131145613259100e-4)*r+
				1.48753612908506148525e-2)*r+1.36929880922735805310e-1)*r+
				5.99832206555887937690e-1)*r + 1)
	}
	if q < 0 {
		return -x
	}
	return x
}

// How a truncNormal draws. The choice depends only on the interval, so it is
// made once per bin, not once per sample.
const (
	tnPoint     = iota // lo == hi: the single value
	tnExp              // a == b although lo < hi: truncated exponential, see newTruncNormal
	tnReject           // mass ≥ rejectMass: draw N(0,1) until it lands in [a, b]
	tnInverse          // inverse CDF on Φ (interval near the centre)
	tnInverseSF        // inverse CDF on the survival function (upper tail)
	tnTail             // Marsaglia's tail method (far upper tail)
)

const (
	// rejectMass is the smallest Φ(b)−Φ(a) for which plain rejection from
	// rng.NormFloat64 is used: at most 4 normal draws expected, cheaper
	// than an inverse CDF for lime's bins, where the mass is about 0.9.
	rejectMass = 0.25
	// tailStart is where the inverse survival function gives way to
	// Marsaglia's method: Q(25) ≈ 3e-138 is still a normal double, so the
	// inverse CDF is exact to rounding below it; above it the acceptance
	// rate of the tail method is over 99.8%.
	tailStart = 25
)

// truncNormal is N(mean, std²) restricted to [lo, hi], as scipy.stats.truncnorm
// with a = (lo−mean)/std, b = (hi−mean)/std, loc = mean, scale = std.
type truncNormal struct {
	mean, std, lo, hi float64
	a, b              float64 // standardised bounds, after flipping into the upper tail when flip
	pa, pb            float64 // per method: Φ or Q at a and b; tnTail: pb the proposal's mass; tnExp: rate and mass
	method            int
	flip              bool // draw −Z on [−b, −a]: an interval below 0 is sampled in the upper tail
}

// newTruncNormal plans draws from N(mean, std²) on [lo, hi]. It expects
// finite arguments, std > 0 and lo ≤ hi (Stats.Validate checks them).
func newTruncNormal(mean, std, lo, hi float64) truncNormal {
	return planTruncNormal(mean, std, lo, hi, tailStart)
}

// planTruncNormal is newTruncNormal with the start of Marsaglia's method as
// a parameter, so that tests can exercise it where its rejection step
// matters.
func planTruncNormal(mean, std, lo, hi, tailFrom float64) truncNormal {
	t := truncNormal{mean: mean, std: std, lo: lo, hi: hi}
	if lo == hi {
		t.method = tnPoint
		return t
	}
	a, b := (lo-mean)/std, (hi-mean)/std
	if a == b {
		// The interval is narrower than the spacing of doubles near a (or
		// both bounds overflowed). Across it the log-density is linear to
		// within that spacing: an exponential with rate d/std² (d the
		// distance from the mean to the nearer end) anchored at the nearer
		// end, flat when the mean is inside and a point mass when the rate
		// overflows.
		t.method = tnExp
		switch {
		case lo >= mean:
			t.pa = (lo - mean) / std / std
		case hi <= mean:
			t.pa, t.flip = (mean-hi)/std/std, true
		}
		t.pb = -math.Expm1(-t.pa * (hi - lo)) // the exponential's mass on [0, hi−lo]
		return t
	}
	if b <= 0 {
		// Mirror into the upper tail, where Q keeps its precision.
		a, b, t.flip = -b, -a, true
	}
	t.a, t.b = a, b
	switch {
	case a < 0:
		// Straddles 0 (b > 0 here).
		t.pa, t.pb = normCDF(a), normCDF(b)
		if t.pb-t.pa >= rejectMass {
			t.method = tnReject
		} else {
			t.method = tnInverse
		}
	case a < tailFrom:
		t.pa, t.pb = normSF(a), normSF(b)
		if t.pa-t.pb >= rejectMass {
			t.method = tnReject
		} else {
			t.method = tnInverseSF
		}
	default:
		t.method = tnTail
		// The width from the original bounds, not b−a: a and b round at the
		// scale of a, and the interval may be far narrower than that.
		w := (hi - lo) / std
		// pb is the proposal's mass on [a, b] relative to [a, ∞):
		// 1 − exp(−(b²−a²)/2) = 1 − exp(−w(2a + w)/2), free of overflow
		// and cancellation.
		t.pb = -math.Expm1(-0.5 * w * (2*a + w))
	}
	return t
}

// draw returns one value in [lo, hi].
func (t *truncNormal) draw(rng *rand.Rand) float64 {
	var z float64
	switch t.method {
	case tnPoint:
		return t.lo
	case tnExp:
		u := rng.Float64()
		e := u * (t.hi - t.lo) // uniform when the rate is 0
		if t.pb > 0 {
			e = -math.Log1p(-u*t.pb) / t.pa
		}
		if t.flip {
			return clamp(t.hi-e, t.lo, t.hi)
		}
		return clamp(t.lo+e, t.lo, t.hi)
	case tnReject:
		return t.reject(rng)
	case tnInverse:
		z = normQuantile(t.pa + rng.Float64()*(t.pb-t.pa))
	case tnInverseSF:
		z = -normQuantile(t.pa - rng.Float64()*(t.pa-t.pb))
	case tnTail:
		// Anchored at the nearer end: the offset keeps its precision even
		// when it is far below the spacing of doubles near a.
		if t.flip {
			return clamp(t.hi-t.std*t.tail(rng), t.lo, t.hi)
		}
		return clamp(t.lo+t.std*t.tail(rng), t.lo, t.hi)
	}
	return t.fromStd(clamp(z, t.a, t.b)) // the inverse CDFs can round a hair outside
}

// reject is draw for tnReject: N(0,1) draws until one lands in [a, b].
// fillRows spells the loop out for lime's bins, where it is the common case.
func (t *truncNormal) reject(rng *rand.Rand) float64 {
	for {
		z := rng.NormFloat64()
		if t.a <= z && z <= t.b {
			return t.fromStd(z)
		}
	}
}

// fromStd maps an accepted standard draw z in [a, b] to the bin: mirrored
// when flip, scaled, and clamped to [lo, hi] against rounding.
func (t *truncNormal) fromStd(z float64) float64 {
	if t.flip {
		z = -z
	}
	return clamp(t.mean+t.std*z, t.lo, t.hi)
}

// tail draws Z − a for Z ~ N(0,1) given a ≤ Z ≤ b, a ≥ tailStart, by
// Marsaglia's method: propose from the density ∝ z·exp(−z²/2) on [a, b] by
// its exact inverse CDF, z = √(a² + 2e) with e = −log(1 − u·pb), and accept
// with probability a/z.
func (t *truncNormal) tail(rng *rand.Rand) float64 {
	a := t.a
	for {
		e := -math.Log1p(-rng.Float64() * t.pb)
		// z − a = 2e/(a + √(a² + 2e)), written so that a² cannot overflow
		// and the offset does not cancel.
		d := 2 * e / (a * (1 + math.Sqrt(1+2*e/a/a)))
		if rng.Float64()*(a+d) <= a {
			return d
		}
	}
}

func clamp(x, lo, hi float64) float64 {
	if x < lo {
		return lo
	}
	if x > hi {
		return hi
	}
	return x
}
