import type { HelloActivities } from '../shared/hello';

export const helloActivities: HelloActivities = {
  async greet(name: string) {
    return `hello, ${name}`;
  },
};
