// An ES module ecosystem file.
const apps = [{ name: "esm", script: "../scripts/worker.mjs", instances: "max" }];
export default { apps };
