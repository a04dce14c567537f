package inference

import (
	"fmt"
	"math"
)

// RangeReport compares rows with a model's training ranges
// ([Bounds.Features]) before they are encrypted: the node cannot see an
// encrypted row, so a row in the wrong units gets confident, wrong
// predictions and no error.
type RangeReport struct {
	// Outside counts the rows with at least one feature far outside its
	// training range: below Min − tol or above Max + tol, where tol is half
	// the feature's own span plus 5 % of the widest feature span.
	Outside int
	// First is the first such row (0-based) and Feature its first such
	// feature; both are −1 when Outside is 0.
	First, Feature int
	// Value is that feature's value and Range its training range.
	Value float64
	Range FeatureRange
	// Rows and Training are the smallest and largest value over all
	// features of the rows and of the training split.
	Rows, Training FeatureRange
}

// Shrunk reports whether the rows' overall span is under a quarter of the
// training split's: the signature of rows rescaled (divided by the feature
// maximum, standardised) before they were given to a model that takes raw
// features.
func (r RangeReport) Shrunk() bool {
	train := r.Training.Max - r.Training.Min
	return train > 0 && r.Rows.Max-r.Rows.Min < train/4
}

// CheckRanges compares rows with ranges, the model's per-feature training
// ranges. With no ranges (a model that records none) or no rows it reports
// nothing. Rows of the wrong width are the evaluator's error, not this
// check's; their extra features are ignored.
func CheckRanges(ranges []FeatureRange, rows [][]float64) RangeReport {
	rep := RangeReport{First: -1, Feature: -1}
	if len(ranges) == 0 || len(rows) == 0 {
		return rep
	}
	widest := 0.0
	rep.Training = FeatureRange{Min: math.Inf(1), Max: math.Inf(-1)}
	for _, fr := range ranges {
		widest = max(widest, fr.Max-fr.Min)
		rep.Training.Min, rep.Training.Max = min(rep.Training.Min, fr.Min), max(rep.Training.Max, fr.Max)
	}
	rep.Rows = FeatureRange{Min: math.Inf(1), Max: math.Inf(-1)}
	for n, row := range rows {
		outside := false
		for i, v := range row[:min(len(row), len(ranges))] {
			rep.Rows.Min, rep.Rows.Max = min(rep.Rows.Min, v), max(rep.Rows.Max, v)
			fr := ranges[i]
			tol := (fr.Max-fr.Min)/2 + widest/20
			if outside || (v >= fr.Min-tol && v <= fr.Max+tol) {
				continue
			}
			outside = true
			if rep.First < 0 {
				rep.First, rep.Feature, rep.Value, rep.Range = n, i, v, fr
			}
		}
		if outside {
			rep.Outside++
		}
	}
	return rep
}

// Warnings returns the report as sentences for a person, none when the rows
// look like the training data. Rows and features are counted from 1 there.
func (r RangeReport) Warnings() []string {
	var w []string
	if r.Outside > 0 {
		w = append(w, fmt.Sprintf("%d rows have features far outside the model's training range (first: row %d, feature %d = %g, trained on [%g, %g]; counting from 1); their predictions are extrapolations",
			r.Outside, r.First+1, r.Feature+1, r.Value, r.Range.Min, r.Range.Max))
	}
	if r.Shrunk() {
		w = append(w, fmt.Sprintf("the rows' values span [%g, %g] but the model was trained on [%g, %g]: the model takes features in the units of its training data (not rescaled or standardised)",
			r.Rows.Min, r.Rows.Max, r.Training.Min, r.Training.Max))
	}
	return w
}
