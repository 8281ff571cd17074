// One-fails fixture: instance FAIL_INSTANCE (default 1) throws before it
// listens, as a bad config of one instance would; the others serve.
if (process.env.TEND_INSTANCE === (process.env.FAIL_INSTANCE || '1')) {
  throw new Error(`instance ${process.env.TEND_INSTANCE} cannot start: no config`);
}
require('./express-app.js');
