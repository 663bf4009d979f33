import type { SourceProfile } from '../../config/schema.ts';
import { auSmartravellerProfile } from './au-smartraveller.ts';
import { caTravelProfile } from './ca-travel.ts';
import { deAaProfile } from './de-aa.ts';
import { genericProfile } from './generic.ts';
import { jpMofaProfile } from './jp-mofa.ts';
import type { SourceProfileImpl } from './types.ts';
import { usEmbassyProfile } from './us-embassy.ts';
import { ukFcdoProfile } from './uk-fcdo.ts';
import { usStateDeptProfile } from './us-state-dept.ts';

const PROFILES: Record<SourceProfile, SourceProfileImpl> = {
  generic: genericProfile,
  'us-state-dept': usStateDeptProfile,
  'us-embassy': usEmbassyProfile,
  'uk-fcdo': ukFcdoProfile,
  'ca-travel': caTravelProfile,
  'au-smartraveller': auSmartravellerProfile,
  'de-aa': deAaProfile,
  'jp-mofa': jpMofaProfile,
};

export function profileFor(source: string): SourceProfileImpl {
  const p = (PROFILES as Record<string, SourceProfileImpl | undefined>)[source];
  if (!p) throw new Error(`unknown source profile "${source}"`);
  return p;
}
