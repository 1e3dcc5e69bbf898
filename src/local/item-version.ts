/**
 * Per-item versions for last writer wins, like the timestamp DynamoDB global tables keep per item.
 * A version is the writing region's wall clock at the write, raised (hybrid-logical-clock style)
 * so that it is always above the version the item had in that region: a write that saw another
 * can never lose to it, whatever the clocks say. Ties between regions go to the region name.
 */
export interface ItemVersion {
  /** Wall-clock ms of the write in its source region (raised past the previous version). */
  readonly wall: number;
  /** Orders writes within the same ms. */
  readonly counter: number;
  /** The region the write was made in. */
  readonly region: string;
}

/** Negative if a is older than b, positive if newer, 0 if the same version. */
export function compareVersions(a: ItemVersion, b: ItemVersion): number {
  if (a.wall !== b.wall) return a.wall - b.wall;
  if (a.counter !== b.counter) return a.counter - b.counter;
  return a.region < b.region ? -1 : a.region > b.region ? 1 : 0;
}

/** The version of a new write in `region` at clock time `now`, over the item's current version. */
export function nextVersion(current: ItemVersion | undefined, now: number, region: string): ItemVersion {
  if (!current || now > current.wall) return { wall: now, counter: 0, region };
  return { wall: current.wall, counter: current.counter + 1, region };
}
