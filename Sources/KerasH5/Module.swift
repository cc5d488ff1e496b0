public enum KerasH5Module {}
