public enum IPCommandPlaceholder {}
