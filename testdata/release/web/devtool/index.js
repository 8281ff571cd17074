module.exports = 'dev only';
