import type { HomePaths } from './config.js'
import type { Output } from './output.js'

/** What every command gets: the device's home directory and where to speak. */
export interface Context {
  home: HomePaths
  out: Output
}
