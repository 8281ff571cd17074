// tend's runtime metrics preload (node --require, through NODE_OPTIONS).
// Every TEND_METRICS_INTERVAL_MS (default 1000) it sends tend, over the IPC
// channel tend opened, {type: 'tend:runtime', figures: {...}}: event-loop
// delay percentiles, event-loop utilization, heap, GC counts and pauses by
// kind, active handles. Nothing here may break the app: every step is
// guarded, the timer is unref'd, and an app without the channel is left
// alone.
// It reports for the process tend started only: it takes itself out of the
// NODE_OPTIONS its children inherit (a cluster worker's IPC channel leads to
// the app, not to tend).
'use strict';
(function tendRuntime() {
  try {
    const o = process.env.NODE_OPTIONS;
    if (o) process.env.NODE_OPTIONS = o.replace(/\s*--require\s+"[^"]*runtime-preload\.js"/, '').trim();
  } catch (e) { /* children report to their parent, who ignores it */ }
  try {
    if (typeof process.send !== 'function') return;
    const { monitorEventLoopDelay, performance, PerformanceObserver, constants } = require('perf_hooks');
    const v8 = require('v8');
    const every = Math.max(100, Number(process.env.TEND_METRICS_INTERVAL_MS) || 1000);
    const h = monitorEventLoopDelay({ resolution: 10 });
    h.enable();
    let elu = performance.eventLoopUtilization();
    const kinds = {};
    const kindName = (k) => {
      switch (k) {
        case constants.NODE_PERFORMANCE_GC_MINOR: return 'minor';
        case constants.NODE_PERFORMANCE_GC_MAJOR: return 'major';
        case constants.NODE_PERFORMANCE_GC_INCREMENTAL: return 'incremental';
        case constants.NODE_PERFORMANCE_GC_WEAKCB: return 'weakcb';
        default: return 'other';
      }
    };
    try {
      const obs = new PerformanceObserver((list) => {
        for (const e of list.getEntries()) {
          const kind = kindName(e.detail ? e.detail.kind : e.kind);
          const k = kinds[kind] || (kinds[kind] = { count: 0, pause: 0 });
          k.count++;
          k.pause += e.duration / 1000;
        }
      });
      obs.observe({ entryTypes: ['gc'] });
    } catch (e) { /* no GC figures */ }
    const t = setInterval(() => {
      try {
        const f = {};
        f.eventloop_delay_p50_seconds = h.percentile(50) / 1e9;
        f.eventloop_delay_p99_seconds = h.percentile(99) / 1e9;
        f.eventloop_delay_max_seconds = h.max / 1e9;
        h.reset();
        const now = performance.eventLoopUtilization();
        f.eventloop_utilization = performance.eventLoopUtilization(now, elu).utilization;
        elu = now;
        const hs = v8.getHeapStatistics();
        f.heap_used_bytes = hs.used_heap_size;
        f.heap_total_bytes = hs.total_heap_size;
        f.heap_limit_bytes = hs.heap_size_limit;
        const mu = process.memoryUsage();
        f.external_bytes = mu.external;
        f.array_buffers_bytes = mu.arrayBuffers;
        for (const kind of Object.keys(kinds)) {
          f['gc_' + kind + '_total'] = kinds[kind].count;
          f['gc_' + kind + '_pause_seconds_total'] = kinds[kind].pause;
        }
        if (typeof process.getActiveResourcesInfo === 'function') {
          f.active_resources = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap').length;
        }
        if (process.connected) process.send({ type: 'tend:runtime', figures: f });
      } catch (e) { /* the next interval tries again */ }
    }, every);
    if (t.unref) t.unref();
  } catch (e) { /* the app runs without runtime metrics */ }
})();
