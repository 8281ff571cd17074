package edge

import (
	"io"
	"testing"
	"time"
)

// BenchmarkProxy measures requests per second through the front to two
// trivial instances, with keep-alive on both sides; BenchmarkDirect is the
// same client against one instance, for scale.
func BenchmarkProxy(b *testing.B) {
	f, url := startFront(b, Config{})
	for _, id := range []string{"a", "b"} {
		be, _ := startApp(b, id, nil)
		f.Add(be)
	}
	benchGet(b, url)
}

func BenchmarkDirect(b *testing.B) {
	_, srv := startApp(b, "a", nil)
	benchGet(b, srv.URL)
}

func benchGet(b *testing.B, url string) {
	c := newClient(b)
	b.SetParallelism(4) // 4 × GOMAXPROCS clients
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			res, err := c.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
}
