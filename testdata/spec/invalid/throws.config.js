// A file that fails while it is evaluated, like one reading a missing secret.
if (!process.env.TEND_TEST_NEVER_SET) {
  throw new Error("DATABASE_URL is not set");
}
module.exports = { apps: [] };
