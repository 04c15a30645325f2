// Package scheduler shares one model server among the jobs that use it: it
// packs the rows of every job into calls up to the model's batch limits,
// keeps the model's calls in flight under one cap, and shares the calls
// fairly between the jobs.
package scheduler
