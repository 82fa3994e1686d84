// French and English strings of the agent desktop. The language follows the browser
// (navigator.languages), can be switched, and the choice is remembered on this device.

const STRINGS = {
  fr: {
    'signin.title': "Poste d'agent 3-1-1",
    'signin.username': "Identifiant d'agent",
    'signin.password': 'Mot de passe',
    'signin.submit': 'Se connecter',
    'signin.error.credentials': 'Identifiant ou mot de passe incorrect.',
    'signin.error.throttled': 'Trop de tentatives : réessayez dans une minute.',
    'signin.error.expired': 'Votre session a expiré : reconnectez-vous.',
    'lang.other': 'English',
    'state.signed_out': 'Déconnecté',
    'state.available': 'Disponible',
    'state.paused': 'En pause',
    'state.ringing': 'Appel entrant',
    'state.on_call': 'En appel',
    'state.wrap_up': 'Fin d’appel',
    'action.ready': 'Prêt',
    'action.pause': 'Pause',
    'action.signout': 'Quitter',
    'action.answer': 'Répondre',
    'action.reject': 'Refuser',
    'action.hangup': 'Raccrocher',
    'action.hold': 'Attente',
    'action.resume': 'Reprendre',
    'action.mute': 'Micro coupé',
    'action.unmute': 'Micro ouvert',
    'action.transfer': 'Transférer',
    'action.wrapup-done': 'Terminer',
    'pause.break': 'Pause',
    'pause.lunch': 'Repas',
    'pause.training': 'Formation',
    'pause.meeting': 'Réunion',
    'pause.email': 'Courriels',
    'pause.disconnected': 'Connexion perdue',
    'pop.caller': 'Appelant',
    'pop.language': 'Langue',
    'pop.queue': 'File',
    'pop.path': 'Parcours',
    'pop.waited': 'Attente',
    'pop.history': 'Appels des 30 derniers jours',
    'pop.no_history': 'Aucun appel récent de ce numéro.',
    'pop.knowledge': 'Fiche',
    'pop.callback': 'Rappel demandé au',
    'lang.fr': 'Français',
    'lang.en': 'Anglais',
    'wrap.disposition': 'Résultat de l’appel',
    'wrap.note': 'Note (facultatif)',
    'call.ended.caller': 'L’appelant a raccroché.',
    'call.ended.agent': 'Appel terminé.',
    'call.ended.system': 'Appel terminé.',
    'call.cancelled': 'Appel retiré.',
    'keypad': 'Clavier',
    'transfer.trying': 'Transfert en cours…',
    'transfer.agent': 'Collègue',
    'transfer.done': 'Transfert effectué.',
    'transfer.failed': 'Le transfert a échoué : l’appelant vous revient',
    'action.consult': 'Consulter d’abord',
    'action.consult_complete': 'Transférer au collègue',
    'action.consult_cancel': 'Reprendre l’appelant',
    'consult.ringing': 'Appel du collègue… (l’appelant est en attente)',
    'consult.talking': 'En consultation : l’appelant est en attente.',
    'consult.pick': 'Choisissez un collègue dans la liste.',
    'consult.from': 'Consultation demandée par',
    'error.socket': 'Connexion au serveur perdue : reconnexion…',
  },
  en: {
    'signin.title': '3-1-1 agent desktop',
    'signin.username': 'Agent ID',
    'signin.password': 'Password',
    'signin.submit': 'Sign in',
    'signin.error.credentials': 'Wrong agent ID or password.',
    'signin.error.throttled': 'Too many attempts: try again in a minute.',
    'signin.error.expired': 'Your session expired: sign in again.',
    'lang.other': 'Français',
    'state.signed_out': 'Signed out',
    'state.available': 'Available',
    'state.paused': 'Paused',
    'state.ringing': 'Incoming call',
    'state.on_call': 'On a call',
    'state.wrap_up': 'Wrap-up',
    'action.ready': 'Ready',
    'action.pause': 'Pause',
    'action.signout': 'Sign out',
    'action.answer': 'Answer',
    'action.reject': 'Decline',
    'action.hangup': 'Hang up',
    'action.hold': 'Hold',
    'action.resume': 'Resume',
    'action.mute': 'Muted',
    'action.unmute': 'Mic on',
    'action.transfer': 'Transfer',
    'action.wrapup-done': 'Done',
    'pause.break': 'Break',
    'pause.lunch': 'Lunch',
    'pause.training': 'Training',
    'pause.meeting': 'Meeting',
    'pause.email': 'E-mail',
    'pause.disconnected': 'Connection lost',
    'pop.caller': 'Caller',
    'pop.language': 'Language',
    'pop.queue': 'Queue',
    'pop.path': 'Path',
    'pop.waited': 'Waited',
    'pop.history': 'Calls in the last 30 days',
    'pop.no_history': 'No recent call from this number.',
    'pop.knowledge': 'Info sheet',
    'pop.callback': 'Callback requested to',
    'lang.fr': 'French',
    'lang.en': 'English',
    'wrap.disposition': 'Call result',
    'wrap.note': 'Note (optional)',
    'call.ended.caller': 'The caller hung up.',
    'call.ended.agent': 'Call ended.',
    'call.ended.system': 'Call ended.',
    'call.cancelled': 'Call withdrawn.',
    'keypad': 'Keypad',
    'transfer.trying': 'Transferring…',
    'transfer.agent': 'Colleague',
    'transfer.done': 'Transferred.',
    'transfer.failed': 'The transfer failed: the caller is back with you',
    'action.consult': 'Consult first',
    'action.consult_complete': 'Transfer to colleague',
    'action.consult_cancel': 'Back to the caller',
    'consult.ringing': 'Calling your colleague… (the caller is on hold)',
    'consult.talking': 'Consulting: the caller is on hold.',
    'consult.pick': 'Choose a colleague in the list.',
    'consult.from': 'Consultation asked by',
    'error.socket': 'Lost the server: reconnecting…',
  },
};

export function language() {
  const saved = localStorage.getItem('centrale.lang');
  if (saved === 'fr' || saved === 'en') return saved;
  for (const l of navigator.languages || [navigator.language || 'fr']) {
    if (l.toLowerCase().startsWith('en')) return 'en';
    if (l.toLowerCase().startsWith('fr')) return 'fr';
  }
  return 'fr';
}

export function t(key) {
  const lang = language();
  return (STRINGS[lang] && STRINGS[lang][key]) || STRINGS.fr[key] || key;
}

/// Fill every element marked data-i18n with its string; set <html lang>.
export function applyI18n(root = document) {
  document.documentElement.lang = language();
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-lang-toggle]')) el.textContent = t('lang.other');
}

export function toggleLanguage() {
  localStorage.setItem('centrale.lang', language() === 'fr' ? 'en' : 'fr');
  applyI18n();
  document.dispatchEvent(new Event('centrale:language'));
}
