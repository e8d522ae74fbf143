// The Joomla event names the bridge accepts, per generation, and what each one means.
import type { LinkTrigger } from './link-user.js'

export type EventEffect = 'link-on-save' | 'link-on-login' | 'link-on-page' | 'unlink' | 'acknowledge'

const EFFECTS: Record<string, EventEffect> = {
  // 1.6 and later
  onUserAfterSave: 'link-on-save',
  onUserLogin: 'link-on-login',
  onUserAfterDelete: 'unlink',
  onUserLogout: 'acknowledge',
  onUserBeforeSave: 'acknowledge',
  onUserBeforeDelete: 'acknowledge',
  // 1.5
  onAfterStoreUser: 'link-on-save',
  onLoginUser: 'link-on-login',
  onAfterDeleteUser: 'unlink',
  onLogoutUser: 'acknowledge',
  onBeforeStoreUser: 'acknowledge',
  onBeforeDeleteUser: 'acknowledge',
  // Every generation: a logged-in user opened one of CiviCRM's own pages in Joomla (com_civicrm),
  // sent by the plugin before CiviCRM runs so that CiviCRM finds the user linked (lazy linking).
  onCivicrmProfile: 'link-on-page',
  onCivicrmContribution: 'link-on-page',
  onCivicrmMembership: 'link-on-page',
}

/** The trigger audited for a linking event: the kind of CiviCRM page for the page events. */
const PAGE_TRIGGERS: Record<string, LinkTrigger> = {
  onCivicrmProfile: 'profile',
  onCivicrmContribution: 'contribution',
  onCivicrmMembership: 'membership',
}

export const EVENT_NAMES = Object.keys(EFFECTS)

export function eventEffect (name: string): EventEffect | null {
  return Object.hasOwn(EFFECTS, name) ? EFFECTS[name] : null
}

/** The audit trigger of a linking event: `save`, `login`, or the CiviCRM page's kind. */
export function linkTrigger (name: string, effect: EventEffect): LinkTrigger {
  return effect === 'link-on-save' ? 'save' : effect === 'link-on-page' ? PAGE_TRIGGERS[name] : 'login'
}
