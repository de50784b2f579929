/**
 * Tokenizer transplantation (issue 4): `runTransplant` and its report. See transplant.ts for the stages.
 */
export { runTransplant, transplantConfig, type TransplantControl, type TransplantOptions } from './transplant';
export * from './report';
export { matchVocabularies, rolesFromConfig, MATCH_CATEGORIES, type MatchCategory, type VocabularyMatch } from './matchVocabularies';
export { METHOD_NAMES, createMethod, type MethodName, type MatrixKind, type TokenRecipe, type RecipePart } from './methods';
