// Features that plug into the page: modules in this folder exporting install(app).
// One name per line; main.js imports them in this order.
export default [
  'route',
  'celery',
  'findings',
  'trace',
  'timeline',
  'recorded-depth',
  'sharing',
];
