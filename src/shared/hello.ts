export interface HelloActivities {
  greet(name: string): Promise<string>;
}
