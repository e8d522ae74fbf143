// The Joomla event names the bridge accepts, per generation, and what each one means.

export type EventEffect = 'link-on-save' | 'link-on-login' | 'unlink' | 'acknowledge'

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
}

export const EVENT_NAMES = Object.keys(EFFECTS)

export function eventEffect (name: string): EventEffect | null {
  return Object.hasOwn(EFFECTS, name) ? EFFECTS[name] : null
}
