// Demo file outside src/: the code-review policy refuses it.
module.exports = { legacy: true };
