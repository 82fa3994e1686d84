// Sign-in page: the error from the query string, in the browser's language.
import { applyI18n, t, toggleLanguage } from './i18n.js';

applyI18n();
const err = new URLSearchParams(location.search).get('error');
if (err) {
  const p = document.getElementById('error');
  p.textContent = t(`signin.error.${err}`);
  p.hidden = false;
}
document.querySelector('[data-lang-toggle]').addEventListener('click', () => toggleLanguage());
