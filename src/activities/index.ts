export { createRotationActivities, chooseStrategy, type RotationDeps } from './rotation';
