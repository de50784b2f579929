/**
 * Stands in for `sharp`, transformers.js's image library, in the server bundle. Model Lens only tokenizes and runs
 * text models, so images never reach it; shipping sharp's native binaries would only add size.
 */
function unavailable(): never {
  throw new Error('Image processing is not part of Model Lens (sharp is not bundled).');
}

export default unavailable;
export const sharp = unavailable;
