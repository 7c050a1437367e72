/** The shape of a dictionary with every leaf a string: pt-BR must have exactly the keys of en. */
export type Strings<T> = { [K in keyof T]: T[K] extends string ? string : Strings<T[K]> };
