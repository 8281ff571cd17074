package inspect

import "slices"

// CPUProfile is the part of a .cpuprofile (the Profiler.stop result's
// profile, as Chrome DevTools reads it) that tells where time went.
type CPUProfile struct {
	Nodes []struct {
		ID        int `json:"id"`
		CallFrame struct {
			FunctionName string `json:"functionName"`
		} `json:"callFrame"`
	} `json:"nodes"`
	StartTime  int64 `json:"startTime"`
	EndTime    int64 `json:"endTime"`
	Samples    []int `json:"samples"`
	TimeDeltas []int `json:"timeDeltas"`
}

// TopSelf returns the names of the n functions with the most self samples,
// most first.
func (p CPUProfile) TopSelf(n int) []string {
	count := map[int]int{}
	for _, s := range p.Samples {
		count[s]++
	}
	byFn := map[string]int{}
	for _, nd := range p.Nodes {
		byFn[nd.CallFrame.FunctionName] += count[nd.ID]
	}
	names := make([]string, 0, len(byFn))
	for k := range byFn {
		names = append(names, k)
	}
	slices.SortFunc(names, func(a, b string) int { return byFn[b] - byFn[a] })
	return names[:min(n, len(names))]
}
