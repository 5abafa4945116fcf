// Stands in for client-node's gen/models/all.js in the agent's bundle (scripts/build.ts): the
// agent uses none of the generated model classes (see object-serializer.ts), only their types.
export {};
