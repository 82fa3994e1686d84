// Console sign-in: say why the last attempt failed.
const messages = {
  credentials: 'Utilisateur ou mot de passe incorrect.',
  throttled: 'Trop de tentatives : réessayez dans une minute.',
};
const err = new URLSearchParams(location.search).get('error');
if (err) {
  const p = document.getElementById('error');
  p.textContent = messages[err] || err;
  p.hidden = false;
}
