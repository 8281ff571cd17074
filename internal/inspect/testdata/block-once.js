// Blocks its event loop once, for 300 ms, 1.5 s after it starts, and
// stays alive.
setTimeout(() => { const end = Date.now() + 300; while (Date.now() < end); }, 1500);
setInterval(() => {}, 1000);
