export { createRotationActivities, chooseStrategy, type RotationDeps } from './rotation';
export { helloActivities } from './hello';
