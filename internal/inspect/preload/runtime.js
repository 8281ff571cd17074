// tend's runtime metrics preload (node --require, through NODE_OPTIONS).
// Every TEND_METRICS_INTERVAL_MS (default 1000) it sends tend, over the IPC
// channel tend opened, {type: 'tend:runtime', figures: {...}}: event-loop
// delay percentiles, event-loop utilization, heap, GC counts and pauses by
// kind, active handles. Nothing here may break the app: every step is
// guarded, the timer is unref'd, and an app without the channel is left
// alone. TEND_NODE_RUNTIME=0 in the app's env turns it off.
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
    if (typeof process.send !== 'function' || process.env.TEND_NODE_RUNTIME === '0') return;
    const { monitorEventLoopDelay, performance } = require('perf_hooks');
    const v8 = require('v8');
    const every = Math.max(100, Number(process.env.TEND_METRICS_INTERVAL_MS) || 1000);
    // The histogram records the time between its timer's runs, which
    // includes the resolution itself: the delay is what exceeds it.
    //
    // Each interval gets a new histogram rather than a reset of the old:
    // a reset also forgets when the timer last ran, so the first time
    // after it is never recorded, and that time spans the report itself,
    // with any block of the loop just before or after it in the same turn
    // (an app's own 1 s timer runs in the same turn as this one's, for a
    // start). The old histogram runs until its timer has run once more,
    // which records that time, and is read then (settle).
    const resolutionMS = 20;
    const eld = () => {
      const x = monitorEventLoopDelay({ resolution: resolutionMS });
      x.enable();
      return x;
    };
    let h = eld();
    const late = (ns) => Math.max(0, ns / 1e9 - resolutionMS / 1000);
    let elu = performance.eventLoopUtilization();
    // The loading of the main module, before the loop runs, is not a
    // delay of the loop: the histogram that saw it is dropped once the
    // loop turns (the check phase follows the first timers), and the
    // first time of the next one, which spans it, is not recorded.
    setImmediate(() => {
      try { const n = eld(); h.disable(); h = n; elu = performance.eventLoopUtilization(); } catch (e) { /* figures as they are */ }
    });
    // settle is after the old histogram's timer has run once more: its
    // next run is due within resolutionMS, and timers run in the order
    // they are due, a block of the loop or not.
    const settle = 2 * resolutionMS;
    // GC counts and pauses come from v8.GCProfiler (Node 18.15+), which
    // records in C++ and is read once an interval (a PerformanceObserver of
    // 'gc' entries costs an object and a callback per collection, which a
    // busy app feels). TEND_NODE_GC=0 in the app's env turns it off.
    // Minor and major collections are counted from 0, so that their
    // counters exist before the first one.
    const kinds = { minor: { count: 0, pause: 0 }, major: { count: 0, pause: 0 } };
    const kindName = (t) => {
      if (t === 'Scavenge' || /^Minor/.test(t)) return 'minor';
      if (t === 'MarkSweepCompact') return 'major';
      if (t === 'IncrementalMarking') return 'incremental';
      if (t === 'ProcessWeakCallbacks') return 'weakcb';
      return 'other';
    };
    let gcp = null;
    try {
      if (process.env.TEND_NODE_GC !== '0' && typeof v8.GCProfiler === 'function') { gcp = new v8.GCProfiler(); gcp.start(); }
    } catch (e) { gcp = null; }
    const readGC = () => {
      if (!gcp) return;
      const r = gcp.stop();
      gcp = new v8.GCProfiler();
      gcp.start();
      for (const s of (r && r.statistics) || []) {
        const kind = kindName(s.gcType);
        const k = kinds[kind] || (kinds[kind] = { count: 0, pause: 0 });
        k.count++;
        k.pause += (Number(s.cost) || 0) / 1e6;
      }
    };
    // Unhandled promise rejections are counted by a listener of
    // 'unhandledRejection', which would otherwise change what Node does
    // with one: since Node 15 (--unhandled-rejections=throw, the default)
    // an unhandled rejection with no listener is thrown as an uncaught
    // exception. So the listener is added only under that default, and
    // while it is the only listener it throws the rejection as Node would;
    // beside the app's own listeners it only counts.
    let rejections = 0;
    try {
      const major = Number(process.versions.node.split('.')[0]);
      const flags = (process.execArgv || []).join(' ') + ' ' + (process.env.NODE_OPTIONS || '');
      if (major >= 15 && !/--unhandled-rejections/.test(flags)) {
        process.on('unhandledRejection', function tendCountRejection(reason) {
          rejections++;
          if (process.listenerCount('unhandledRejection') > 1) return;
          try { if (process.connected) process.send({ type: 'tend:runtime', figures: { unhandled_rejections_total: rejections } }); } catch (e) { /* the crash says it */ }
          if (reason instanceof Error) throw reason;
          const err = new Error('This error originated either by throwing inside of an async function without a catch block, ' +
            'or by rejecting a promise which was not handled with .catch(). The promise rejected with the reason "' +
            require('util').inspect(reason) + '".');
          err.code = 'ERR_UNHANDLED_REJECTION';
          throw err;
        });
      }
    } catch (e) { /* no count */ }
    // report reads every figure once the old histogram has settled, so
    // that they all cover the same time: a block of the loop just after
    // the interval's turn is in the utilization as it is in the delay.
    const report = (old) => {
      try {
        const f = {};
        f.eventloop_delay_p50_seconds = late(old.percentile(50));
        f.eventloop_delay_p99_seconds = late(old.percentile(99));
        f.eventloop_delay_max_seconds = late(old.max);
        old.disable();
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
        try { readGC(); } catch (e) { gcp = null; }
        for (const kind of gcp ? Object.keys(kinds) : []) {
          f['gc_' + kind + '_total'] = kinds[kind].count;
          f['gc_' + kind + '_pause_seconds_total'] = kinds[kind].pause;
        }
        f.unhandled_rejections_total = rejections;
        if (typeof process.getActiveResourcesInfo === 'function') {
          f.active_resources = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap').length;
        }
        if (process.connected) process.send({ type: 'tend:runtime', figures: f });
      } catch (e) { /* the next interval tries again */ }
    };
    const t = setInterval(() => {
      try {
        const old = h;
        h = eld();
        const s = setTimeout(report, settle, old);
        if (s.unref) s.unref();
      } catch (e) { /* the next interval tries again */ }
    }, every);
    if (t.unref) t.unref();
  } catch (e) { /* the app runs without runtime metrics */ }
})();
