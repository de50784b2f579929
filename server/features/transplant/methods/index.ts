/**
 * Every approximation method, by name. A new method is one module in this folder, added here.
 */
import { ModelLensError } from '../../../errors';
import { auxMethod } from './aux';
import { knnMethod } from './knn';
import { meanMethod } from './mean';
import { ompMethod } from './omp';
import { subwordMethod } from './subword';
import { METHOD_NAMES, type MethodName, type MethodOptions, type TransplantMethod } from './types';
import { zeroMethod } from './zero';

export * from './types';

const FACTORIES: Record<MethodName, (options: MethodOptions) => TransplantMethod> = {
  omp: ompMethod,
  zero: zeroMethod,
  mean: meanMethod,
  subword: subwordMethod,
  knn: knnMethod,
  aux: auxMethod,
};

export function createMethod(name: string, options: MethodOptions = {}): TransplantMethod {
  const factory = (FACTORIES as Record<string, ((options: MethodOptions) => TransplantMethod) | undefined>)[name];
  if (!factory) throw new ModelLensError('usage', `unknown transplant method "${name}"`, undefined, `Use one of: ${METHOD_NAMES.join(', ')}.`);
  return factory(options);
}
